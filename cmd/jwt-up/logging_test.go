package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/jwt-up/jwt-up/api"
)

// jsonLines decodes every line of a JSON log.
func jsonLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q is not JSON: %v", l, err)
		}
		lines = append(lines, m)
	}
	return lines
}

func TestNewLoggerFormats(t *testing.T) {
	tests := []struct {
		format string
		json   bool
	}{
		{"json", true},
		{"auto", true}, // not a terminal
		{"text", false},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			var buf bytes.Buffer
			newLogger(&buf, "info", tt.format).Info("hello", "kid", "abc")
			out := buf.String()
			var m map[string]any
			err := json.Unmarshal(buf.Bytes(), &m)
			if tt.json {
				if err != nil || m["msg"] != "hello" || m["kid"] != "abc" || m["level"] != "INFO" {
					t.Errorf("want a JSON line, got %q (%v)", out, err)
				}
				return
			}
			if err == nil || !strings.Contains(out, "msg=hello") || !strings.Contains(out, "kid=abc") {
				t.Errorf("want a text line, got %q", out)
			}
		})
	}
}

func TestNewLoggerLevel(t *testing.T) {
	var buf bytes.Buffer
	log := newLogger(&buf, "warn", "json")
	log.Info("dropped")
	log.Warn("kept")
	lines := jsonLines(t, buf.String())
	if len(lines) != 1 || lines[0]["msg"] != "kept" {
		t.Errorf("at level warn the log holds %v, want only the warning", lines)
	}
}

// requestContext sends one request through the api router and returns the
// context its handler saw, which carries the request id.
func requestContext(t *testing.T, requestID string) context.Context {
	t.Helper()
	r := api.New(api.Config{Registry: prometheus.NewRegistry(),
		Logger: slog.New(slog.DiscardHandler)}, nil, nil)
	var got context.Context
	r.GET("/test/capture", func(c *gin.Context) {
		got = c.Request.Context()
		c.Status(http.StatusNoContent)
	})
	req := httptest.NewRequest(http.MethodGet, "/test/capture", nil)
	req.Header.Set("X-Request-ID", requestID)
	r.ServeHTTP(httptest.NewRecorder(), req)
	if got == nil {
		t.Fatal("the capture handler did not run")
	}
	if id := api.RequestID(got); id != requestID {
		t.Fatalf("api.RequestID = %q, want %q", id, requestID)
	}
	return got
}

func TestRequestIDHandler(t *testing.T) {
	ctx := requestContext(t, "req-42")
	var buf bytes.Buffer
	log := newLogger(&buf, "info", "json")

	log.InfoContext(ctx, "with id")
	log.With("kid", "abc").WithGroup("g").InfoContext(ctx, "derived", "n", 1)
	log.InfoContext(context.Background(), "without id")
	log.Info("no context")

	lines := jsonLines(t, buf.String())
	if len(lines) != 4 {
		t.Fatalf("got %d lines, want 4:\n%s", len(lines), buf.String())
	}
	if lines[0]["request_id"] != "req-42" {
		t.Errorf("line %v has no request_id req-42", lines[0])
	}
	// A derived logger keeps the handler: the id is still added.
	// Within a group the id lands in the group, as every record attribute
	// does; either place is accepted here.
	if lines[1]["kid"] != "abc" {
		t.Errorf("derived logger line %v lacks kid", lines[1])
	}
	g, _ := lines[1]["g"].(map[string]any)
	if lines[1]["request_id"] != "req-42" && (g == nil || g["request_id"] != "req-42") {
		t.Errorf("derived logger line %v lacks request_id", lines[1])
	}
	for _, l := range lines[2:] {
		if _, ok := l["request_id"]; ok {
			t.Errorf("line %v has a request_id without a request", l)
		}
	}
}

func TestAccessLogCarriesRequestID(t *testing.T) {
	var buf syncBuffer
	r := api.New(api.Config{Registry: prometheus.NewRegistry(),
		Logger: newLogger(&buf, "info", "json")}, nil, nil)
	req := httptest.NewRequest(http.MethodGet, "/no/such/path", nil)
	req.Header.Set("X-Request-ID", "req-43")
	r.ServeHTTP(httptest.NewRecorder(), req)

	lines := jsonLines(t, buf.String())
	if len(lines) != 1 || lines[0]["msg"] != "request" || lines[0]["request_id"] != "req-43" {
		t.Errorf("access log %v, want one request line with request_id req-43", lines)
	}
}
