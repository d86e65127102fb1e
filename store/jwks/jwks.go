// Package jwks fetches the JSON Web Key Sets of trusted issuers over HTTP,
// for the service's subject token verifier.
package jwks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
)

// MaxBody is the most bytes of a JWKS document read. Sets of a few keys
// are a few KiB; a larger body is a wrong URL or an attack.
const MaxBody = 1 << 20

// defaultTimeout bounds a fetch made with the default client.
const defaultTimeout = 5 * time.Second

// defaultClient is used when a Fetcher has no Client.
var defaultClient = &http.Client{Timeout: defaultTimeout}

// Fetcher gets a JWKS with an HTTP GET.
type Fetcher struct {
	// Client makes the requests; nil means a client with a 5 s timeout.
	Client *http.Client
}

// FetchKeySet gets and parses the JWKS at rawURL, refusing an answer other
// than 200, a body over MaxBody and a set without keys. Its errors name the
// URL as shown gives it.
func (f *Fetcher) FetchKeySet(ctx context.Context, rawURL string) (jwk.Set, error) {
	set, err := f.fetch(ctx, rawURL)
	if err != nil {
		return nil, fmt.Errorf("fetch jwks from %s: %w", shown(rawURL), err)
	}
	return set, nil
}

// fetch is FetchKeySet, with errors that do not name the URL.
func (f *Fetcher) fetch(ctx context.Context, rawURL string) (jwk.Set, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, errors.New("the URL is not usable")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := f.client().Do(req)
	if err != nil {
		// net/http's error quotes the whole URL, query included.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, err
	}
	defer resp.Body.Close()

	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody+1))
	if err != nil {
		return nil, err
	}
	if len(body) > MaxBody {
		return nil, fmt.Errorf("body is over %d bytes", MaxBody)
	}
	set, err := jwk.Parse(body)
	if err != nil {
		return nil, fmt.Errorf("parse jwks: %w", err)
	}
	if set.Len() == 0 {
		return nil, errors.New("the set has no keys")
	}
	return set, nil
}

// shown is rawURL as errors, and so logs, may carry it: without a user
// or password, and without the query, where an issuer may want a key.
func shown(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "a JWKS URL that does not parse"
	}
	query := u.RawQuery != ""
	u.User, u.RawQuery, u.Fragment, u.RawFragment = nil, "", "", ""
	if query {
		return u.String() + "?…"
	}
	return u.String()
}

// client returns the client to fetch with.
func (f *Fetcher) client() *http.Client {
	if f.Client != nil {
		return f.Client
	}
	return defaultClient
}
