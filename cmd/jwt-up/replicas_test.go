package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/jwt-up/jwt-up/store/storetest"
)

// replica is one jwt-up instance of a multi-replica test, wired as serve
// wires it, behind an httptest server.
type replica struct {
	app *app
	srv *httptest.Server
}

const (
	replicaGatewayKey = "gateway-key-for-replica-tests"
	replicaAdminKey   = "admin-key-for-replica-tests"
)

// startReplicas starts n replicas at the same moment on one PostgreSQL
// schema and one Redis.
func startReplicas(t *testing.T, n int) []*replica {
	t.Helper()
	schema := storetest.NewSchema(t)
	redisURL := storetest.RedisURL(t)
	kek := make([]byte, 32)
	if _, err := rand.Read(kek); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"JWTUP_DATABASE_URL": schema.URL,
		"JWTUP_REDIS_URL":    redisURL,
		"JWTUP_GATEWAY_KEYS": replicaGatewayKey,
		"JWTUP_ADMIN_KEYS":   replicaAdminKey,
		"JWTUP_KEK":          base64.StdEncoding.EncodeToString(kek),
		"JWTUP_SIGNING_ALG":  "ES256",
		"JWTUP_KEY_REFRESH":  "1h", // changes must travel by notice, not by polling
		"JWTUP_DATA_DIR":     t.TempDir(),
	}

	replicas := make([]*replica, n)
	var wg sync.WaitGroup
	for i := range replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			replicas[i] = startReplica(t, env)
		}()
	}
	wg.Wait()
	for _, r := range replicas {
		if r == nil {
			t.FailNow()
		}
	}
	return replicas
}

func startReplica(t *testing.T, env map[string]string) *replica {
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	addSettingFlags(fs)
	ctx, cancel := context.WithCancel(context.Background())
	a, err := newApp(ctx, fs, func(k string) string { return env[k] }, io.Discard, true)
	if err != nil {
		t.Errorf("start replica: %v", err)
		cancel()
		return nil
	}
	if err := a.openMinter(); err != nil {
		t.Errorf("start replica: %v", err)
		cancel()
		return nil
	}
	a.background(ctx)
	srv := httptest.NewServer(a.router([]string{replicaGatewayKey}))
	t.Cleanup(func() {
		srv.Close()
		cancel()
		a.Close()
	})
	return &replica{app: a, srv: srv}
}

// do sends a request to the replica and returns status and body.
func (r *replica) do(t *testing.T, method, path, key, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, r.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := r.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	return res.StatusCode, out
}

// mint returns the token and kid the replica hands out for consumer.
func (r *replica) mint(t *testing.T, consumer string) (token, kid string) {
	t.Helper()
	status, body := r.do(t, http.MethodPost, "/v1/tokens", replicaGatewayKey,
		`{"consumer":{"id":"`+consumer+`"}}`)
	if status != http.StatusOK {
		t.Fatalf("mint on %s: %d %s", r.srv.URL, status, body)
	}
	var got struct{ Token, Kid string }
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	return got.Token, got.Kid
}

// eventually polls cond until it holds or the time is up; notices between
// replicas travel asynchronously.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 5 s: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// uniqueConsumer names a consumer no earlier run left in the shared Redis.
func uniqueConsumer(name string) string { return name + "-" + rand.Text() }

func TestReplicasShareKeysAndTokens(t *testing.T) {
	rs := startReplicas(t, 3)

	t.Run("one key from a concurrent first start", func(t *testing.T) {
		keys, err := rs[0].app.store.ListKeys(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) != 2 {
			t.Fatalf("store holds %d keys, want one active and one next", len(keys))
		}
		for _, r := range rs[1:] {
			if r.app.keys.ActiveKID() != rs[0].app.keys.ActiveKID() {
				t.Errorf("replicas sign with different keys")
			}
		}
	})

	t.Run("same token from every replica", func(t *testing.T) {
		alice := uniqueConsumer("alice")
		want, _ := rs[0].mint(t, alice)
		for i, r := range rs[1:] {
			if got, _ := r.mint(t, alice); got != want {
				t.Errorf("replica %d handed out another token", i+1)
			}
		}
	})

	t.Run("concurrent misses converge on one token", func(t *testing.T) {
		bob := uniqueConsumer("bob")
		tokens := make([]string, len(rs)*4)
		var wg sync.WaitGroup
		for i := range tokens {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tokens[i], _ = rs[i%len(rs)].mint(t, bob)
			}()
		}
		wg.Wait()
		for i, tok := range tokens {
			if tok != tokens[0] {
				t.Fatalf("request %d got another token than request 0", i)
			}
		}
	})

	t.Run("purge on one is seen by all", func(t *testing.T) {
		carol := uniqueConsumer("carol")
		before, _ := rs[0].mint(t, carol)
		for _, r := range rs[1:] {
			r.mint(t, carol) // now in every replica's process cache
		}
		status, body := rs[1].do(t, http.MethodDelete, "/v1/consumers/"+carol+"/tokens", replicaAdminKey, "")
		if status != http.StatusNoContent {
			t.Fatalf("purge: %d %s", status, body)
		}
		for _, r := range rs {
			eventually(t, "replica drops the purged token", func() bool {
				got, _ := r.mint(t, carol)
				return got != before
			})
		}
	})

	t.Run("rotation on one is seen by all", func(t *testing.T) {
		status, body := rs[2].do(t, http.MethodPost, "/v1/keys/rotate?immediate=true", replicaAdminKey, "")
		if status != http.StatusCreated {
			t.Fatalf("rotate: %d %s", status, body)
		}
		var k struct{ KID string }
		if err := json.Unmarshal(body, &k); err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			eventually(t, "replica signs with the rotated key", func() bool {
				return r.app.keys.ActiveKID() == k.KID
			})
			_, kid := r.mint(t, uniqueConsumer("dave"))
			if kid != k.KID {
				t.Errorf("replica signed with %s, want %s", kid, k.KID)
			}
			jwks, _ := r.app.keys.JWKS()
			if !strings.Contains(string(jwks), k.KID) {
				t.Error("rotated key missing from a replica's JWKS")
			}
		}
	})

	t.Run("revocation on one is seen by all", func(t *testing.T) {
		erin := uniqueConsumer("erin")
		before, kid := rs[0].mint(t, erin)
		status, body := rs[1].do(t, http.MethodDelete, "/v1/keys/"+kid, replicaAdminKey, "")
		if status != http.StatusOK {
			t.Fatalf("revoke: %d %s", status, body)
		}
		for _, r := range rs {
			eventually(t, "replica stops handing out tokens of the revoked key", func() bool {
				got, gotKID := r.mint(t, erin)
				return got != before && gotKID != kid
			})
			jwks, _ := r.app.keys.JWKS()
			if strings.Contains(string(jwks), kid) {
				t.Error("revoked key still in a replica's JWKS")
			}
		}
	})
}
