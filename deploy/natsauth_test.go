package deploy

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/caliopen/functions/connector"
	"github.com/caliopen/functions/internal/contract"
)

// The pods of infra/k8s/base and their NATS users.
var natsPods = map[string]string{
	connectorDeployment:      NATSUserConnector,
	"caliopen-smtp-listener": NATSUserSMTPListener,
	"caliopen-scheduler":     NATSUserScheduler,
}

func natsUsers(t *testing.T) []NATSUser {
	t.Helper()
	users, err := NATSUsers(contract.Caliopen(), registryNames())
	if err != nil {
		t.Fatal(err)
	}
	return users
}

// TestNATSAuthFiles checks that the Secret, the pods and stack.yml give
// each component its own user, password and inbox prefix (nats.yaml's
// authorization block is generated: TestGenerated).
func TestNATSAuthFiles(t *testing.T) {
	root := moduleRoot(t)
	users := natsUsers(t)
	_, docs := readInfra(t)
	secret := map[string]string{}
	for _, d := range docs {
		if d.File == "k8s/base/secrets.yaml" {
			var s struct {
				Metadata   struct{ Name string }
				StringData map[string]string `yaml:"stringData"`
			}
			if err := d.Decode(&s); err == nil && s.Metadata.Name == "caliopen-nats-auth" {
				secret = s.StringData
			}
		}
	}
	var keys, wantKeys []string
	for k := range secret {
		keys = append(keys, k)
	}
	for _, u := range users {
		wantKeys = append(wantKeys, u.PasswordEnv())
	}
	slices.Sort(keys)
	slices.Sort(wantKeys)
	if !slices.Equal(keys, wantKeys) {
		t.Errorf("Secret caliopen-nats-auth holds %v, want the users' passwords %v", keys, wantKeys)
	}

	for deployment, user := range natsPods {
		env, errs := EnvValues(docs, deployment)
		reportAll(t, errs)
		for k, v := range map[string]string{"NATS_USER": user, "NATS_INBOX_PREFIX": InboxPrefixOf(user),
			"NATS_PASSWORD": "secret caliopen-nats-auth/" + PasswordEnvOf(user)} {
			if env[k] != v {
				t.Errorf("deployment %s: %s = %q, want %q", deployment, k, env[k], v)
			}
		}
	}

	s, err := ReadStack(filepath.Join(root, "stack.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for name, f := range s.Functions {
		for k, v := range map[string]string{"NATS_USER": name, "NATS_INBOX_PREFIX": InboxPrefixOf(name),
			"NATS_PASSWORD_FILE": SecretsPath + NATSSecretOf(name)} {
			if f.Environment[k] != v {
				t.Errorf("stack.yml %s: %s = %q, want %q", name, k, f.Environment[k], v)
			}
		}
		if !slices.Contains(f.Secrets, NATSSecretOf(name)) {
			t.Errorf("stack.yml %s: secrets %v lack %s", name, f.Secrets, NATSSecretOf(name))
		}
		for _, sec := range f.Secrets {
			if strings.HasPrefix(sec, "caliopen-nats-") && sec != NATSSecretOf(name) {
				t.Errorf("stack.yml %s: mounts %s, another component's NATS password", name, sec)
			}
		}
	}
}

// TestNATSAuthParses checks that the NATS server's own parser reads the
// generated block with every password set, and refuses it with one missing.
func TestNATSAuthParses(t *testing.T) {
	users := natsUsers(t)
	conf := filepath.Join(t.TempDir(), "nats.conf")
	if err := os.WriteFile(conf, []byte(NATSAuthorization(users)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, u := range users[1:] {
		t.Setenv(u.PasswordEnv(), "pw-"+u.Name)
	}
	if _, err := server.ProcessConfigFile(conf); err == nil || !strings.Contains(err.Error(), users[0].PasswordEnv()) {
		t.Errorf("ProcessConfigFile without %s = %v, want an error naming it", users[0].PasswordEnv(), err)
	}
	t.Setenv(users[0].PasswordEnv(), "pw-"+users[0].Name)
	o, err := server.ProcessConfigFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Users) != len(users) {
		t.Fatalf("%d users parsed, want %d", len(o.Users), len(users))
	}
	for i, u := range o.Users {
		if u.Username != users[i].Name || u.Password != "pw-"+users[i].Name {
			t.Errorf("user %d = %s, want %s with its password", i, u.Username, users[i].Name)
		}
		if (u.Permissions.Response != nil) != users[i].Responses {
			t.Errorf("user %s: allow_responses %v, want %v", u.Username, u.Permissions.Response != nil, users[i].Responses)
		}
	}
}

// TestNATSUsersTable checks what the table must keep true: the connector
// alone subscribes to the contract's subjects (and the operator, who
// watches them) and publishes to the JetStream API, and every name of the
// stack has a user.
func TestNATSUsersTable(t *testing.T) {
	users := natsUsers(t)
	d := connector.DefaultConfig()
	if d.StreamName != NATSStream || d.HandoffPrefix != NATSHandoffPrefix || d.DLQPrefix != NATSDLQPrefix {
		t.Errorf("connector defaults %s %s %s, want %s %s %s", d.StreamName, d.HandoffPrefix, d.DLQPrefix,
			NATSStream, NATSHandoffPrefix, NATSDLQPrefix)
	}
	seen := map[string]bool{}
	for _, u := range users {
		seen[u.Name] = true
		if u.Name == NATSUserConnector {
			continue
		}
		if u.Name == NATSUserOperator {
			// The operator watches orders and dead letters go by (nats sub),
			// nothing else: no stream, no other inbox.
			for _, sub := range u.Subscribe {
				if sub != InboxPrefixOf(u.Name)+".>" && sub != NATSDLQPrefix+".>" && !slices.Contains(subjectNames(), sub) {
					t.Errorf("operator subscribes %s, want its inbox, the dead letters and the contract's subjects only", sub)
				}
			}
		} else if !slices.Equal(u.Subscribe, []string{InboxPrefixOf(u.Name) + ".>"}) || u.Responses {
			t.Errorf("user %s subscribes %v (responses %v), want its inbox alone", u.Name, u.Subscribe, u.Responses)
		}
		for _, p := range u.Publish {
			if u.Name == NATSUserOperator && strings.HasPrefix(p, "$JS.API.") &&
				(strings.Contains(p, "."+NATSStream+"_DLQ.") || strings.HasSuffix(p, "."+NATSStream+"_DLQ") || p == "$JS.API.STREAM.INFO.*") {
				continue // the dead letters, read by cmd/caliopen dlq; the streams' state
			}
			if strings.HasPrefix(p, "$") || strings.HasPrefix(p, "_INBOX") || strings.ContainsAny(p, "*>") {
				t.Errorf("user %s publishes %s", u.Name, p)
			}
		}
	}
	for _, n := range append(registryNames(), NATSUserConnector, NATSUserOperator, NATSUserSMTPListener, NATSUserScheduler) {
		if !seen[n] {
			t.Errorf("no NATS user %s", n)
		}
	}
	if _, err := NATSUsers(contract.Caliopen(), append(registryNames(), "new-function")); err == nil ||
		!strings.Contains(err.Error(), "new-function") {
		t.Errorf("NATSUsers with a function outside the registry = %v, want an error naming it", err)
	}
}

// TestNATSConfParses reads nats.yaml's whole nats.conf with the NATS
// server's parser, as the StatefulSet's servers do: every user with its
// password from the Secret's variables, and JetStream on.
func TestNATSConfParses(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "nats.conf")
	if err := os.WriteFile(conf, []byte(configMap(t, "nats-config")["nats.conf"]), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SERVER_NAME", "nats-0")
	users := natsUsers(t)
	for _, u := range users {
		t.Setenv(u.PasswordEnv(), "pw-"+u.Name)
	}
	o, err := server.ProcessConfigFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	if !o.JetStream || len(o.Users) != len(users) || o.ServerName != "nats-0" {
		t.Errorf("nats.conf: jetstream %v, %d users (want %d), server name %q", o.JetStream, len(o.Users), len(users), o.ServerName)
	}
	for _, u := range o.Users {
		if u.Password != "pw-"+u.Username {
			t.Errorf("user %s does not take its password from %s", u.Username, PasswordEnvOf(u.Username))
		}
	}
}

// TestNATSSendsCoverCode reads the code of each component and finds the
// subjects it passes to a call (an emitter's Publish or Request, emit.Order,
// the API's order helpers): each must be in the component's row of the
// table, or the component would be refused on a cluster. A subject chosen
// at run time (the API's deliverSubject, schedule.SubjectFor) escapes this
// check; the real-server tests of systest/natsauth cover those paths.
func TestNATSSendsCoverCode(t *testing.T) {
	root := moduleRoot(t)
	values := subjectConstants(t, filepath.Join(root, "internal", "contract", "table.go"))
	dirs := map[string][]string{
		NATSUserSMTPListener: {"internal/smtplistener", "cmd/smtp-listener"},
		NATSUserScheduler:    {"internal/scheduler", "cmd/scheduler"},
	}
	for _, name := range registryNames() {
		dirs[name] = []string{"functions/" + name}
	}
	for _, u := range natsUsers(t) {
		if u.Name == NATSUserConnector || u.Name == NATSUserOperator {
			continue
		}
		found := map[string]bool{}
		for _, dir := range dirs[u.Name] {
			for s := range sentSubjects(t, filepath.Join(root, filepath.FromSlash(dir)), values) {
				found[s] = true
			}
		}
		for s := range found {
			if !slices.Contains(u.Publish, s) {
				t.Errorf("%s sends %s in its code, but its NATS user may not publish it: add it to the table of internal/natsusers", u.Name, s)
			}
		}
	}
}

// subjectConstants maps the contract's Subject* constants to their values.
func subjectConstants(t *testing.T, file string) map[string]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	ast.Inspect(f, func(n ast.Node) bool {
		if vs, ok := n.(*ast.ValueSpec); ok && len(vs.Names) == 1 && len(vs.Values) == 1 &&
			strings.HasPrefix(vs.Names[0].Name, "Subject") {
			if lit, ok := vs.Values[0].(*ast.BasicLit); ok {
				out[vs.Names[0].Name], _ = strconv.Unquote(lit.Value)
			}
		}
		return true
	})
	if len(out) == 0 {
		t.Fatalf("%s: no Subject constants", file)
	}
	return out
}

// goFiles parses the non-test Go files of dir.
func goFiles(t *testing.T, dir string) []*ast.File {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil || len(names) == 0 {
		t.Fatalf("%s: no Go files (%v)", dir, err)
	}
	var files []*ast.File
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	return files
}

// sentSubjects lists the contract subjects passed as an argument to a call
// in dir, messages and logs aside.
func sentSubjects(t *testing.T, dir string, values map[string]string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, f := range goFiles(t, dir) {
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			if fn, ok := call.Fun.(*ast.SelectorExpr); ok {
				if pkg, ok := fn.X.(*ast.Ident); ok && (pkg.Name == "fmt" || pkg.Name == "errors" || pkg.Name == "slog") {
					return true
				}
			}
			for _, arg := range call.Args {
				sel, ok := arg.(*ast.SelectorExpr)
				if !ok {
					continue
				}
				if pkg, ok := sel.X.(*ast.Ident); ok && pkg.Name == "contract" {
					if v, ok := values[sel.Sel.Name]; ok {
						out[v] = true
					}
				}
			}
			return true
		})
	}
	return out
}

// subjectNames are the contract's subjects.
func subjectNames() []string {
	var out []string
	for _, s := range contract.Caliopen().Subjects {
		out = append(out, s.Name)
	}
	return out
}
