package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// sample is what a ceiling copies from jwt-up so that its answers are the
// same size: one token response, and the JWKS with its ETag.
type sample struct {
	Token tokenResponse `json:"token"`
	JWKS  []byte        `json:"jwks"`
	ETag  string        `json:"etag"`
}

// fetchSample asks jwt-up for one token, as the load will, and for its
// JWKS. The token's consumer is sampleID, which no load uses.
func fetchSample(ctx context.Context, addr, key string) (sample, error) {
	var s sample
	body := strings.ReplaceAll(tokensBody(), idMark, fmt.Sprint(sampleID))
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/v1/tokens",
		strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	if err := getJSON(req, &s.Token); err != nil {
		return s, fmt.Errorf("sample token: %w", err)
	}

	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/.well-known/jwks.json", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return s, fmt.Errorf("sample JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return s, fmt.Errorf("sample JWKS: status %d", resp.StatusCode)
	}
	s.ETag = resp.Header.Get("ETag")
	s.JWKS, err = io.ReadAll(resp.Body)
	return s, err
}

// getJSON sends req and decodes a 200 answer into v.
func getJSON(req *http.Request, v any) error {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		detail, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("status %d: %s", resp.StatusCode, detail)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
