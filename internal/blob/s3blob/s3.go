// Package s3blob is a blob.Store in an S3 bucket, through aws-sdk-go-v2,
// for AWS or any S3-compatible server (custom endpoint, path-style
// addressing).
//
// Put first copies the reader into memory (up to 8 MiB) or a temporary file,
// checking its size, then uploads it in one PutObject: S3 writes an object
// whole or not at all, so a failed Put leaves the previous object in
// place. NoSuchKey and 404 answers map to blob.ErrNotFound; a missing
// bucket does not (it is a configuration error). The SDK retries
// throttling and transient network errors (3 attempts); other errors are
// returned wrapped with the operation and key.
package s3blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/caliopen/functions/internal/blob"
)

// memLimit is the largest upload buffered in memory; larger ones, and ones
// of unknown size that grow past it, are spooled to a temporary file.
const memLimit = 8 << 20

// Store is a blob.Store in one bucket. It is safe for concurrent use.
type Store struct {
	client *s3.Client
	cfg    Config
}

var _ blob.Store = (*Store)(nil)

// New returns a store for cfg after validating it. It does not contact the
// server; EnsureBucket does.
func New(cfg Config) (*Store, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("s3blob config: %w", err)
	}
	opts := s3.Options{
		Region:       cfg.Region,
		UsePathStyle: cfg.PathStyle,
		Credentials:  credentials.NewStaticCredentialsProvider(cfg.AccessKey, cfg.SecretKey, ""),
		// Checksums only where the API demands them: many S3-compatible
		// servers lag behind AWS's default CRC trailers.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	}
	if cfg.Endpoint != "" {
		opts.BaseEndpoint = aws.String(cfg.Endpoint)
	}
	return &Store{client: s3.New(opts), cfg: cfg}, nil
}

// EnsureBucket creates the bucket when it does not exist yet.
func (s *Store) EnsureBucket(ctx context.Context) error {
	in := &s3.CreateBucketInput{Bucket: aws.String(s.cfg.Bucket)}
	if s.cfg.Region != "us-east-1" {
		in.CreateBucketConfiguration = &types.CreateBucketConfiguration{
			LocationConstraint: types.BucketLocationConstraint(s.cfg.Region),
		}
	}
	_, err := s.client.CreateBucket(ctx, in)
	var owned *types.BucketAlreadyOwnedByYou
	var exists *types.BucketAlreadyExists
	if err != nil && !errors.As(err, &owned) && !errors.As(err, &exists) {
		return fmt.Errorf("create bucket %s: %w", s.cfg.Bucket, err)
	}
	return nil
}

func (s *Store) object(key string) (*string, error) {
	if err := blob.ValidKey(key); err != nil {
		return nil, err
	}
	return aws.String(s.cfg.Prefix + key), nil
}

// Put uploads r under key (see the package comment).
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	obj, err := s.object(key)
	if err != nil {
		return err
	}
	body, n, done, err := spool(ctx, r, size)
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	defer done()
	_, err = s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(s.cfg.Bucket),
		Key:           obj,
		Body:          body,
		ContentLength: aws.Int64(n),
	})
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

// spool copies r into a seekable body, checking size; done releases it.
func spool(ctx context.Context, r io.Reader, size int64) (io.ReadSeeker, int64, func(), error) {
	if size >= 0 && size <= memLimit {
		var buf bytes.Buffer
		buf.Grow(int(size))
		n, err := blob.CopyExact(ctx, &buf, r, size)
		return bytes.NewReader(buf.Bytes()), n, func() {}, err
	}
	var head bytes.Buffer
	if size < 0 {
		n, err := blob.CopyExact(ctx, &head, io.LimitReader(r, memLimit+1), -1)
		if err != nil {
			return nil, 0, nil, err
		}
		if n <= memLimit {
			return bytes.NewReader(head.Bytes()), n, func() {}, nil
		}
	}
	f, err := os.CreateTemp("", "caliopen-s3-put-")
	if err != nil {
		return nil, 0, nil, err
	}
	done := func() { f.Close(); os.Remove(f.Name()) }
	n, err := blob.CopyExact(ctx, f, io.MultiReader(&head, r), size)
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		done()
		return nil, 0, nil, err
	}
	return f, n, done, nil
}

// Get opens the object under key.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	obj, err := s.object(key)
	if err != nil {
		return nil, err
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: obj})
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", key, notFound(err))
	}
	if out.ContentLength == nil {
		return out.Body, nil
	}
	return sizedBody{out.Body, *out.ContentLength}, nil
}

// sizedBody is an object's body that knows its size (blob.Sized).
type sizedBody struct {
	io.ReadCloser
	size int64
}

func (b sizedBody) Size() int64 { return b.size }

// Stat describes the object under key.
func (s *Store) Stat(ctx context.Context, key string) (blob.Info, error) {
	obj, err := s.object(key)
	if err != nil {
		return blob.Info{}, err
	}
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: obj})
	if err != nil {
		return blob.Info{}, fmt.Errorf("stat %s: %w", key, notFound(err))
	}
	return blob.Info{Key: key, Size: aws.ToInt64(out.ContentLength), ModTime: aws.ToTime(out.LastModified)}, nil
}

// Delete removes the object under key; S3 answers success for a missing one.
func (s *Store) Delete(ctx context.Context, key string) error {
	obj, err := s.object(key)
	if err != nil {
		return err
	}
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: obj}); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return nil
}

// notFound maps a missing object (not a missing bucket) to blob.ErrNotFound.
func notFound(err error) error {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	if errors.As(err, &nsk) || errors.As(err, &nf) {
		return fmt.Errorf("%w: %w", blob.ErrNotFound, err)
	}
	var api smithy.APIError
	if errors.As(err, &api) && api.ErrorCode() == "NoSuchBucket" {
		return err
	}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() == 404 {
		return fmt.Errorf("%w: %w", blob.ErrNotFound, err)
	}
	return err
}

// List calls fn for every object whose key begins with prefix, a page of
// the bucket's listing at a time (see blob.Lister).
func (s *Store) List(ctx context.Context, prefix string, fn func(blob.Info) error) error {
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: aws.String(s.cfg.Bucket),
		Prefix: aws.String(s.cfg.Prefix + prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list %s: %w", prefix, err)
		}
		for _, o := range page.Contents {
			key := strings.TrimPrefix(aws.ToString(o.Key), s.cfg.Prefix)
			if err := fn(blob.Info{Key: key, Size: aws.ToInt64(o.Size), ModTime: aws.ToTime(o.LastModified)}); err != nil {
				return err
			}
		}
	}
	return nil
}
