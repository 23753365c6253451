package s3blob

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/caliopen/functions/internal/envconf"
	"github.com/caliopen/functions/internal/secretenv"
)

// Config locates the bucket.
type Config struct {
	// Endpoint is the S3 server's base URL, such as http://127.0.0.1:7070.
	// Default: "" (AWS's endpoint for Region).
	Endpoint string
	// Region signs the requests. Default: us-east-1.
	Region string
	// Bucket holds the objects. Required.
	Bucket string
	// Prefix is prepended to every key, to share a bucket. Default: "".
	Prefix string
	// PathStyle addresses the bucket as ENDPOINT/BUCKET/KEY instead of
	// BUCKET.ENDPOINT/KEY; most self-hosted servers need it. Default: false.
	PathStyle bool
	// AccessKey and SecretKey are the static credentials. Required.
	AccessKey string
	SecretKey string
}

// Environment variables read by LoadConfig; each field's comment in Config
// gives its default.
const (
	EnvEndpoint      = "CALIOPEN_S3_ENDPOINT"
	EnvRegion        = "CALIOPEN_S3_REGION"
	EnvBucket        = "CALIOPEN_S3_BUCKET"
	EnvPrefix        = "CALIOPEN_S3_PREFIX"
	EnvPathStyle     = "CALIOPEN_S3_PATH_STYLE"
	EnvAccessKey     = "CALIOPEN_S3_ACCESS_KEY"
	EnvSecretKey     = "CALIOPEN_S3_SECRET_KEY"
	EnvSecretKeyFile = "CALIOPEN_S3_SECRET_KEY_FILE" // a secret mounted as a file; wins over EnvSecretKey
)

// LoadConfig reads the configuration from the environment and validates
// it, reporting every problem at once.
func LoadConfig(getenv func(string) string) (Config, error) {
	c := Config{
		Endpoint:  getenv(EnvEndpoint),
		Region:    getenv(EnvRegion),
		Bucket:    getenv(EnvBucket),
		Prefix:    getenv(EnvPrefix),
		AccessKey: getenv(EnvAccessKey),
		SecretKey: getenv(EnvSecretKey),
	}
	var errs []error
	errs = append(errs, envconf.Bool(getenv, EnvPathStyle, &c.PathStyle))
	if getenv(EnvSecretKeyFile) != "" {
		v, err := secretenv.Value(getenv, EnvSecretKey)
		if err != nil {
			errs = append(errs, err)
		}
		c.SecretKey = v
	}
	if err := c.validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, fmt.Errorf("s3blob config: %w", err)
	}
	return c, nil
}

// validate fills the defaults and checks the fields.
func (c *Config) validate() error {
	if c.Region == "" {
		c.Region = "us-east-1"
	}
	var errs []error
	if c.Bucket == "" {
		errs = append(errs, errors.New("bucket is required"))
	}
	if c.Endpoint != "" {
		u, err := url.Parse(c.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("endpoint %q: want http(s)://host[:port]", c.Endpoint))
		}
	}
	if c.AccessKey == "" || c.SecretKey == "" {
		errs = append(errs, errors.New("access key and secret key are required"))
	}
	if c.Prefix != "" && (strings.HasPrefix(c.Prefix, "/") || !strings.HasSuffix(c.Prefix, "/")) {
		errs = append(errs, fmt.Errorf("prefix %q: want a relative path ending with '/'", c.Prefix))
	}
	return errors.Join(errs...)
}
