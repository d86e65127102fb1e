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
	signer    jws.Signer        // stateless: safe for concurrent use
	headers   map[string]string // encoded protected header by token type
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
// opened, for signing. The protected headers are encoded once here: a
// token's header differs only by its type.
func newSigningKey(k store.Key, priv crypto.Signer) (*signingKey, error) {
	alg := jwa.SignatureAlgorithm(k.Alg)
	var signer jws.Signer
	if s, ok := newECDSASigner(alg); ok {
		signer = s
	} else {
		var err error
		if signer, err = jws.NewSigner(alg); err != nil {
			return nil, err
		}
	}
	headers := map[string]string{}
	for _, typ := range TokenTypes {
		h, err := json.Marshal(struct {
			Alg string `json:"alg"`
			KID string `json:"kid"`
			Typ string `json:"typ"`
		}{k.Alg, k.KID, typ})
		if err != nil {
			return nil, err
		}
		headers[typ] = base64.RawURLEncoding.EncodeToString(h)
	}
	return &signingKey{
		kid:       k.KID,
		alg:       alg,
		priv:      priv,
		signer:    signer,
		headers:   headers,
		activated: k.ActivatedAt,
	}, nil
}

// sign signs payload as a compact JWS whose typ header is typ, one of
// TokenTypes.
func (k *signingKey) sign(payload []byte, typ string) ([]byte, error) {
	enc := base64.RawURLEncoding
	header := k.headers[typ]
	b := make([]byte, 0, len(header)+enc.EncodedLen(len(payload))+enc.EncodedLen(maxSignatureSize)+2)
	b = append(b, header...)
	b = append(b, '.')
	b = enc.AppendEncode(b, payload)

	sig, err := k.signer.Sign(b, k.priv)
	if err != nil {
		return nil, err
	}
	b = append(b, '.')
	return enc.AppendEncode(b, sig), nil
}

// maxSignatureSize is the size of the largest signature jwt-up makes, a
// 4096-bit RSA one; smaller ones leave room unused.
const maxSignatureSize = 512
