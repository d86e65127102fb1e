package service

import (
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/jwt-up/jwt-up/store"
)

// signingKey is the active key, opened and ready to sign.
type signingKey struct {
	kid       string
	alg       jwa.SignatureAlgorithm
	priv      crypto.Signer
	headers   jws.Headers
	activated time.Time
}

// keyring is one immutable view of the key set. The manager builds a new one
// on every change and swaps it in atomically, so the minting path reads it
// without a lock.
type keyring struct {
	active *signingKey     // nil while no key can sign
	usable map[string]bool // kids whose tokens may still be handed out
	jwks   []byte          // the JWKS document, served as is
	etag   string          // quoted digest of jwks
	keys   []store.Key     // every key, private parts stripped
}

// newKeyring builds a keyring from stored keys; active is the opened active
// key or nil.
func newKeyring(keys []store.Key, active *signingKey) (*keyring, error) {
	r := &keyring{active: active, usable: map[string]bool{}}

	published := []json.RawMessage{}
	for _, k := range keys {
		if k.State == store.KeyActive || k.State == store.KeyRetired {
			r.usable[k.KID] = true
		}
		if k.State.Published() {
			published = append(published, json.RawMessage(k.PublicJWK))
		}
		k.Sealed = nil
		r.keys = append(r.keys, k)
	}

	body, err := json.Marshal(struct {
		Keys []json.RawMessage `json:"keys"`
	}{published})
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(body)
	r.jwks = body
	r.etag = `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`
	return r, nil
}

// newSigningKey prepares the stored active key k, with its private key
// opened, for signing.
func newSigningKey(k store.Key, priv crypto.Signer) (*signingKey, error) {
	h := jws.NewHeaders()
	if err := h.Set(jws.KeyIDKey, k.KID); err != nil {
		return nil, err
	}
	if err := h.Set(jws.TypeKey, "JWT"); err != nil {
		return nil, err
	}
	return &signingKey{
		kid:       k.KID,
		alg:       jwa.SignatureAlgorithm(k.Alg),
		priv:      priv,
		headers:   h,
		activated: k.ActivatedAt,
	}, nil
}

// sign signs payload as a compact JWS.
func (k *signingKey) sign(payload []byte) ([]byte, error) {
	return jws.Sign(payload, jws.WithKey(k.alg, k.priv, jws.WithProtectedHeaders(k.headers)))
}
