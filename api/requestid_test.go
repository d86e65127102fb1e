package api_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/jwt-up/jwt-up/api"
)

// madeID is the form of a request id the server makes.
var madeID = regexp.MustCompile(`^[0-9a-f]{24}$`)

// idRouter is a router with one more route, /id, which answers with the
// request id its handler finds in the request's context.
func idRouter(t *testing.T) *gin.Engine {
	t.Helper()
	cfg := api.Config{Registry: prometheus.NewRegistry(), Logger: slog.New(slog.DiscardHandler)}
	r := api.New(cfg, nil, nil)
	r.GET("/id", func(c *gin.Context) {
		c.String(http.StatusOK, api.RequestID(c.Request.Context()))
	})
	return r
}

// askID sends r a request for /id with the given X-Request-ID values and
// returns the id answered in the header, after checking that the context
// held the same. It may run on any goroutine.
func askID(t *testing.T, r http.Handler, sent []string) string {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/id", nil)
	if sent != nil {
		req.Header["X-Request-Id"] = sent
	}
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, req)
	got := rec.Header().Values("X-Request-Id")
	if len(got) != 1 || got[0] != rec.Body.String() {
		t.Errorf("got X-Request-Id %q and context id %q, want one id, the same", got, rec.Body)
		return ""
	}
	return got[0]
}

func TestRequestID(t *testing.T) {
	t.Parallel()
	r := idRouter(t)

	cases := []struct {
		name string
		sent []string
		want string // "": one the server made
	}{
		{"none", nil, ""},
		{"sane", []string{"gw-42.a:b_C"}, "gw-42.a:b_C"},
		{"at the length limit", []string{strings.Repeat("a", 64)}, strings.Repeat("a", 64)},
		{"first of two", []string{"one", "two"}, "one"},
		{"empty", []string{""}, ""},
		{"space", []string{"a b"}, ""},
		{"line feed", []string{"a\nb"}, ""},
		{"non-ASCII", []string{"ré"}, ""},
		{"too long", []string{strings.Repeat("a", 65)}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := askID(t, r, tc.sent)
			if tc.want != "" && got != tc.want {
				t.Errorf("got id %q, want %q", got, tc.want)
			}
			if tc.want == "" && !madeID.MatchString(got) {
				t.Errorf("got id %q, want 24 lowercase hex digits", got)
			}
		})
	}
}

// TestRequestIDUnique asks for many ids at once, from two routers as two
// replicas would: no two are equal.
func TestRequestIDUnique(t *testing.T) {
	t.Parallel()
	routers := []http.Handler{idRouter(t), idRouter(t)}

	var (
		mu   sync.Mutex
		seen = map[string]bool{}
		wg   sync.WaitGroup
	)
	for i := range 4 {
		r := routers[i%len(routers)]
		wg.Go(func() {
			for range 500 {
				id := askID(t, r, nil)
				mu.Lock()
				if seen[id] || !madeID.MatchString(id) {
					t.Errorf("got id %q twice or malformed", id)
				}
				seen[id] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}
