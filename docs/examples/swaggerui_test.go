package examples_test

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jwt-up/jwt-up/docs/examples/internal/jwtuptest"
)

// TestSwaggerUI loads jwt-up's Swagger UI in headless Chromium, lets its
// scripts fetch and render the OpenAPI document, and checks the rendered
// page lists the operations, the mint operation first of all.
func TestSwaggerUI(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	jwtuptest.NeedTool(t, err, "run: apt-get install -y chromium")
	s := jwtuptest.Start(t, "ES256")

	dom := renderDOM(t, chromium, s.URL+"/swagger/index.html")
	if strings.Contains(dom, "Failed to load API definition") {
		t.Fatalf("Swagger UI could not load the OpenAPI document; page:\n%s", dom)
	}
	for _, want := range []string{
		`data-path="/v1/tokens"`, "Mint a token",
		`data-path="/v1/auth"`,
		`data-path="/.well-known/jwks.json"`,
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("the rendered page has no %s; page:\n%s", want, dom)
		}
	}
}

// renderDOM runs Chromium on url until the page's scripts are done, with
// at most ten seconds of the page's own time, and returns the DOM.
func renderDOM(t *testing.T, chromium, url string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// As root Chromium needs --no-sandbox; the rest keeps it from
	// reaching anywhere but url.
	cmd := exec.CommandContext(ctx, chromium,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+t.TempDir(), "--virtual-time-budget=10000",
		"--dump-dom", url)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.Fatalf("chromium did not finish within 2 minutes; stderr:\n%s", errOut.String())
		}
		t.Fatalf("chromium: %v; stderr:\n%s", err, errOut.String())
	}
	return out.String()
}
