package nginx

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
)

// binDir holds the jwt-up binary built for this test run.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "jwtup-nginx-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "make temp dir:", err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// skipOrFail skips the test, or fails it when JWTUP_TEST_REQUIRE_SERVICES=1
// says that everything it needs must be there.
func skipOrFail(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("JWTUP_TEST_REQUIRE_SERVICES") == "1" {
		t.Fatalf(format+" (required: JWTUP_TEST_REQUIRE_SERVICES=1)", args...)
	}
	t.Skipf(format, args...)
}

const installHint = "on Debian: apt-get install nginx libnginx-mod-http-lua lua-cjson, " +
	"with /usr/sbin on PATH"

// nginxBin is an nginx found on PATH and what it was built with.
type nginxBin struct {
	path    string
	modules string // --modules-path
}

// requireNginx finds nginx on PATH with the auth_request module, and with
// lua the Lua module and cjson; it skips (or fails) the test when one is
// missing.
func requireNginx(t *testing.T, lua bool) nginxBin {
	t.Helper()
	path, err := exec.LookPath("nginx")
	if err != nil {
		skipOrFail(t, "nginx not found on PATH; %s", installHint)
	}
	out, err := exec.Command(path, "-V").CombinedOutput()
	if err != nil {
		t.Fatalf("%s -V: %v\n%s", path, err, out)
	}
	if !bytes.Contains(out, []byte("--with-http_auth_request_module")) {
		skipOrFail(t, "%s was built without the auth_request module", path)
	}
	ng := nginxBin{path: path, modules: "/usr/lib/nginx/modules"}
	for _, f := range strings.Fields(string(out)) {
		if v, ok := strings.CutPrefix(f, "--modules-path="); ok {
			ng.modules = v
		}
	}
	if lua {
		requireLua(t, ng)
	}
	return ng
}

// requireLua checks that nginx loads the Lua module and that Lua finds
// cjson, by starting nginx on a configuration that needs only those.
func requireLua(t *testing.T, ng nginxBin) {
	t.Helper()
	for _, m := range []string{"ndk_http_module.so", "ngx_http_lua_module.so"} {
		if _, err := os.Stat(filepath.Join(ng.modules, m)); err != nil {
			skipOrFail(t, "nginx Lua module missing: %v; %s", err, installHint)
		}
	}
	const probe = `
load_module {{.Modules}}/ndk_http_module.so;
load_module {{.Modules}}/ngx_http_lua_module.so;
daemon off;
master_process off;
pid {{.Prefix}}/nginx.pid;
error_log {{.Prefix}}/error.log info;
events {}
http {
    client_body_temp_path {{.Prefix}}/tmp/body;
    proxy_temp_path {{.Prefix}}/tmp/proxy;
    fastcgi_temp_path {{.Prefix}}/tmp/fastcgi;
    uwsgi_temp_path {{.Prefix}}/tmp/uwsgi;
    scgi_temp_path {{.Prefix}}/tmp/scgi;
    server {
        listen {{.Listen}};
        location = /probe {
            content_by_lua_block {
                local ok, err = pcall(require, "cjson.safe")
                ngx.say(ok and "ok" or err)
            }
        }
    }
}
`
	conf := confData{Prefix: t.TempDir(), Modules: ng.modules, Listen: freeAddr(t)}
	gw, err := launchNginx(t, ng, probe, conf)
	if err != nil {
		skipOrFail(t, "nginx does not start with the Lua module: %v; %s", err, installHint)
	}
	status, body := fetch(t, gw+"/probe")
	first, _, _ := strings.Cut(strings.TrimSpace(body), "\n")
	if status != http.StatusOK || first != "ok" {
		skipOrFail(t, "nginx Lua cannot load cjson (%d: %s); %s", status, first, installHint)
	}
}

// confData fills in the nginx configuration templates.
type confData struct {
	Prefix     string // nginx's working directory: pid, logs, temp files
	Modules    string // where nginx's dynamic modules are
	Listen     string // address nginx serves on
	JWTUp      string // jwt-up's address
	Upstream   string // the recording upstream's address
	Down       string // an address where nothing listens
	GatewayKey string
	Htpasswd   string // auth_basic user file
	LuaDir     string // the directory holding jwtup.lua
	Margin     int    // seconds the Lua cache cuts from expires_in
}

// newConfData returns the template data for nginx in front of up, with
// jwt-up at j and an htpasswd file with users.
func newConfData(t *testing.T, ng nginxBin, j *jwtUp, up *recorder,
	users map[string]string) confData {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	prefix := t.TempDir()
	return confData{
		Prefix:     prefix,
		Modules:    ng.modules,
		Listen:     freeAddr(t),
		JWTUp:      j.addr,
		Upstream:   up.addr(),
		Down:       freeAddr(t),
		GatewayKey: j.gatewayKey,
		Htpasswd:   writeHtpasswd(t, prefix, users),
		LuaDir:     dir,
		Margin:     10,
	}
}

// startNginx renders the template file name with data and runs nginx on
// it until the test ends. It returns nginx's base URL.
func startNginx(t *testing.T, ng nginxBin, name string, data confData) string {
	t.Helper()
	text, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	base, err := launchNginx(t, ng, string(text), data)
	if err != nil {
		t.Fatal(err)
	}
	return base
}

// launchNginx checks and starts nginx on the rendered configuration, and
// stops it when the test ends.
func launchNginx(t *testing.T, ng nginxBin, text string, data confData) (string, error) {
	t.Helper()
	tmpl, err := template.New("nginx.conf").Option("missingkey=error").Parse(text)
	if err != nil {
		return "", fmt.Errorf("parse template: %w", err)
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, data); err != nil {
		return "", fmt.Errorf("render template: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(data.Prefix, "tmp"), 0o700); err != nil {
		return "", err
	}
	conf := filepath.Join(data.Prefix, "nginx.conf")
	if err := os.WriteFile(conf, buf.Bytes(), 0o600); err != nil {
		return "", err
	}

	errorLog := filepath.Join(data.Prefix, "error.log")
	args := []string{"-p", data.Prefix + "/", "-e", errorLog, "-c", conf}
	check := exec.Command(ng.path, append([]string{"-t", "-q"}, args...)...)
	if out, err := check.CombinedOutput(); err != nil {
		return "", fmt.Errorf("nginx -t: %v\n%s\n%s", err, out, numbered(buf.String()))
	}

	cmd := exec.Command(ng.path, args...)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start nginx: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		stopProcess(cmd, exited, syscall.SIGQUIT)
		if t.Failed() {
			t.Logf("nginx output:\n%s\nnginx error.log:\n%s", out.String(), readFile(errorLog))
		}
	})

	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return "", fmt.Errorf("nginx exited at start:\n%s\n%s", out.String(), readFile(errorLog))
		default:
		}
		if c, err := net.DialTimeout("tcp", data.Listen, 200*time.Millisecond); err == nil {
			c.Close()
			return "http://" + data.Listen, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return "", errors.New("nginx did not listen on " + data.Listen + " within 10s")
}

// stopProcess asks the process to stop with sig and kills it if it has
// not exited after 10 seconds.
func stopProcess(cmd *exec.Cmd, exited <-chan struct{}, sig syscall.Signal) {
	select {
	case <-exited:
		return
	default:
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
}

// writeHtpasswd writes an auth_basic user file with salted SHA-1 ({SSHA})
// hashes, a scheme nginx reads without any external tool.
func writeHtpasswd(t *testing.T, dir string, users map[string]string) string {
	t.Helper()
	var b strings.Builder
	for user, password := range users {
		salt := make([]byte, 8)
		if _, err := rand.Read(salt); err != nil {
			t.Fatal(err)
		}
		sum := sha1.Sum(append([]byte(password), salt...))
		hash := base64.StdEncoding.EncodeToString(append(sum[:], salt...))
		fmt.Fprintf(&b, "%s:{SSHA}%s\n", user, hash)
	}
	path := filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// binOnce builds jwt-up once per test run.
var binOnce struct {
	sync.Once
	path string
	err  error
}

// jwtUpBinary builds ./cmd/jwt-up from the module root.
func jwtUpBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		out, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil {
			binOnce.err = fmt.Errorf("go env GOMOD: %w", err)
			return
		}
		root := filepath.Dir(strings.TrimSpace(string(out)))
		path := filepath.Join(binDir, "jwt-up")
		build := exec.Command("go", "build", "-o", path, "./cmd/jwt-up")
		build.Dir = root
		if out, err := build.CombinedOutput(); err != nil {
			binOnce.err = fmt.Errorf("go build ./cmd/jwt-up: %v\n%s", err, out)
			return
		}
		binOnce.path = path
	})
	if binOnce.err != nil {
		t.Fatal(binOnce.err)
	}
	return binOnce.path
}

// jwtUp is a jwt-up process serving on loopback.
type jwtUp struct {
	addr       string // host:port
	base       string // http://host:port, also the issuer
	gatewayKey string
	stop       func() // stops it now; the test's cleanup does it too
}

// startJWTUp runs jwt-up with a fresh data dir, ES256 keys and a random
// gateway key; env adds NAME=value settings.
func startJWTUp(t *testing.T, env ...string) *jwtUp {
	t.Helper()
	bin := jwtUpBinary(t)
	key := make([]byte, 24)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	j := &jwtUp{addr: freeAddr(t), gatewayKey: "gw-" + hex.EncodeToString(key)}
	j.base = "http://" + j.addr

	cmd := exec.Command(bin)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "JWTUP_") { // no setting from the caller's shell
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env,
		"JWTUP_LISTEN="+j.addr,
		"JWTUP_ISSUER="+j.base,
		"JWTUP_DATA_DIR="+filepath.Join(t.TempDir(), "data"),
		"JWTUP_GATEWAY_KEYS="+j.gatewayKey,
		"JWTUP_SIGNING_ALG=ES256",
		"JWTUP_LOG_FORMAT=json",
	)
	cmd.Env = append(cmd.Env, env...)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start jwt-up: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	var once sync.Once
	j.stop = func() { once.Do(func() { stopProcess(cmd, exited, syscall.SIGTERM) }) }
	t.Cleanup(func() {
		j.stop()
		if t.Failed() {
			t.Logf("jwt-up output:\n%s", out.String())
		}
	})

	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			t.Fatalf("jwt-up exited at start:\n%s", out.String())
		default:
		}
		if res, err := client.Get(j.base + "/healthz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return j
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("jwt-up did not answer /healthz within 30s:\n%s", out.String())
	return nil
}

// counter sums the samples of a Prometheus counter on jwt-up's /metrics
// whose labels include every name, value pair given.
func (j *jwtUp) counter(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	status, body := fetch(t, j.base+"/metrics")
	if status != http.StatusOK {
		t.Fatalf("GET /metrics: %d", status)
	}
	var sum float64
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		series, value, ok := cutLast(line, " ")
		if !ok || !(series == name || strings.HasPrefix(series, name+"{")) {
			continue
		}
		if !hasLabels(series, labels) {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		sum += v
	}
	return sum
}

func hasLabels(series string, labels []string) bool {
	for i := 0; i+1 < len(labels); i += 2 {
		if !strings.Contains(series, labels[i]+`="`+labels[i+1]+`"`) {
			return false
		}
	}
	return true
}

func cutLast(s, sep string) (before, after string, ok bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

// verifier checks tokens as an upstream would: with the JWKS fetched from
// jwt-up, ES256 only, and the issuer, audience and time claims.
type verifier struct {
	issuer string
	keys   jose.JSONWebKeySet
}

func newVerifier(t *testing.T, j *jwtUp) *verifier {
	t.Helper()
	status, body := fetch(t, j.base+"/.well-known/jwks.json")
	if status != http.StatusOK {
		t.Fatalf("GET JWKS: %d %s", status, body)
	}
	v := &verifier{issuer: j.base}
	if err := json.Unmarshal([]byte(body), &v.keys); err != nil {
		t.Fatalf("decode JWKS: %v", err)
	}
	return v
}

// verify returns the token's claims, or why it is not valid now.
func (v *verifier) verify(token, audience string) (map[string]any, error) {
	tok, err := josejwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	if len(tok.Headers) != 1 {
		return nil, fmt.Errorf("got %d signatures, want 1", len(tok.Headers))
	}
	keys := v.keys.Key(tok.Headers[0].KeyID)
	if len(keys) == 0 {
		return nil, fmt.Errorf("kid %q is not in the JWKS", tok.Headers[0].KeyID)
	}
	var std josejwt.Claims
	all := map[string]any{}
	if err := tok.Claims(keys[0].Key, &std, &all); err != nil {
		return nil, fmt.Errorf("signature: %w", err)
	}
	err = std.ValidateWithLeeway(josejwt.Expected{
		Issuer:      v.issuer,
		AnyAudience: josejwt.Audience{audience},
		Time:        time.Now(),
	}, 0)
	if err != nil {
		return nil, err
	}
	return all, nil
}

// recorder is the upstream API: it answers 200 and keeps the headers and
// body of every request it got, by path.
type recorder struct {
	srv    *httptest.Server
	mu     sync.Mutex
	seen   map[string]http.Header
	bodies map[string]string
}

func newRecorder(t *testing.T) *recorder {
	t.Helper()
	r := &recorder{seen: map[string]http.Header{}, bodies: map[string]string{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.seen[req.URL.Path] = req.Header.Clone()
		r.bodies[req.URL.Path] = string(body)
		r.mu.Unlock()
		io.WriteString(w, "upstream ok\n")
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *recorder) addr() string { return r.srv.Listener.Addr().String() }

// headers returns what the upstream got for path, and whether it got it.
func (r *recorder) headers(path string) (http.Header, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h, ok := r.seen[path]
	return h, ok
}

// body returns the body the upstream got for path.
func (r *recorder) body(path string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bodies[path]
}

// leaks returns every header of every recorded request that holds one of
// the secrets, as "path: name".
func (r *recorder) leaks(secrets ...string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for path, h := range r.seen {
		for name, values := range h {
			for _, v := range append([]string{name}, values...) {
				for _, s := range secrets {
					if s != "" && strings.Contains(v, s) {
						out = append(out, path+": "+name)
					}
				}
			}
		}
	}
	return out
}

// bearer returns the token of a "Bearer <token>" header value.
func bearer(h http.Header) (string, bool) {
	return strings.CutPrefix(h.Get("Authorization"), "Bearer ")
}

// request sends GET url through nginx, with basic credentials when user is
// set, and returns the answer's status and headers.
func request(t *testing.T, url, user, password string, h http.Header) (int, http.Header) {
	t.Helper()
	return send(t, http.MethodGet, url, user, password, h, "")
}

// send is request with any method and a body.
func send(t *testing.T, method, url, user, password string, h http.Header,
	body string) (int, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for name, values := range h {
		req.Header[name] = values
	}
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	res, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	return res.StatusCode, res.Header
}

// fetch GETs url and returns the status and body.
func fetch(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := (&http.Client{Timeout: 10 * time.Second}).Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return res.StatusCode, string(b)
}

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func readFile(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// numbered prefixes each line with its number, to read nginx's errors.
func numbered(s string) string {
	var b strings.Builder
	for i, line := range strings.Split(s, "\n") {
		fmt.Fprintf(&b, "%4d  %s\n", i+1, line)
	}
	return b.String()
}

// syncBuffer collects a child process's output while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
