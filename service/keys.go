package service

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/jwt-up/jwt-up/store"
)

// Algorithms lists the signing algorithms jwt-up supports, default first.
var Algorithms = []string{"RS256", "PS256", "ES256", "ES384", "EdDSA"}

// rsaBits is the size of generated RSA keys, and the least accepted on import.
const rsaBits = 2048

// ErrInvalidKey means an imported key is unusable: not a private key, of an
// unsupported type, too short, or of a type the algorithm cannot use.
var ErrInvalidKey = errors.New("invalid key")

// ValidAlgorithm reports whether alg is one jwt-up signs with.
func ValidAlgorithm(alg string) bool {
	for _, a := range Algorithms {
		if a == alg {
			return true
		}
	}
	return false
}

// GenerateKey makes a fresh private key for alg, of the size jwt-up uses.
func GenerateKey(alg string) (crypto.Signer, error) {
	switch alg {
	case "RS256", "PS256":
		return rsa.GenerateKey(rand.Reader, rsaBits)
	case "ES256":
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ES384":
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "EdDSA":
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	}
	return nil, fmt.Errorf("%w: unsupported algorithm %q", ErrInvalidKey, alg)
}

// checkKeyFits reports whether priv can sign with alg.
func checkKeyFits(alg string, priv crypto.Signer) error {
	ok := false
	switch k := priv.(type) {
	case *rsa.PrivateKey:
		if k.N.BitLen() < rsaBits {
			return fmt.Errorf("%w: RSA keys need at least %d bits", ErrInvalidKey, rsaBits)
		}
		ok = alg == "RS256" || alg == "PS256"
	case *ecdsa.PrivateKey:
		ok = (alg == "ES256" && k.Curve == elliptic.P256()) ||
			(alg == "ES384" && k.Curve == elliptic.P384())
	case ed25519.PrivateKey:
		ok = alg == "EdDSA"
	}
	if !ok {
		return fmt.Errorf("%w: a %T cannot sign %s", ErrInvalidKey, priv, alg)
	}
	return nil
}

// AlgorithmFor picks the algorithm an imported key signs with: preferred when
// the key can use it, else the one its type implies.
func AlgorithmFor(priv crypto.Signer, preferred string) (string, error) {
	if checkKeyFits(preferred, priv) == nil {
		return preferred, nil
	}
	for _, alg := range Algorithms {
		if checkKeyFits(alg, priv) == nil {
			return alg, nil
		}
	}
	return "", checkKeyFits(preferred, priv)
}

// CheckImport reports whether priv can be imported into a key store whose
// keys sign alg; when it cannot, the error says which setting would take it.
func CheckImport(priv crypto.Signer, alg string) error {
	err := checkKeyFits(alg, priv)
	if err == nil {
		return nil
	}
	if fits, fitErr := AlgorithmFor(priv, alg); fitErr == nil {
		return fmt.Errorf("%w: keys here sign %s; to import this key, set JWTUP_SIGNING_ALG=%s",
			ErrInvalidKey, alg, fits)
	}
	return err
}

// ParsePrivateKeyPEM reads the first private key of a PEM file: PKCS #8,
// PKCS #1 (RSA) or SEC 1 (EC).
func ParsePrivateKeyPEM(data []byte) (crypto.Signer, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, fmt.Errorf("%w: no PEM private key found", ErrInvalidKey)
		}
		var (
			k   any
			err error
		)
		switch block.Type {
		case "PRIVATE KEY":
			k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			k, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			k, err = x509.ParseECPrivateKey(block.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrInvalidKey, block.Type, err)
		}
		signer, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("%w: %T is not a signing key", ErrInvalidKey, k)
		}
		return signer, nil
	}
}

// sealKey turns a private key into a stored record in state next, its kid
// the RFC 7638 thumbprint of the public key.
func sealKey(s *Sealer, alg string, priv crypto.Signer, now time.Time) (store.Key, error) {
	pub, err := jwk.FromRaw(priv.Public())
	if err != nil {
		return store.Key{}, fmt.Errorf("public jwk: %w", err)
	}
	if err := jwk.AssignKeyID(pub); err != nil {
		return store.Key{}, fmt.Errorf("key id: %w", err)
	}
	if err := pub.Set(jwk.AlgorithmKey, jwa.SignatureAlgorithm(alg)); err != nil {
		return store.Key{}, fmt.Errorf("public jwk: %w", err)
	}
	if err := pub.Set(jwk.KeyUsageKey, jwk.ForSignature); err != nil {
		return store.Key{}, fmt.Errorf("public jwk: %w", err)
	}
	pubJSON, err := json.Marshal(pub)
	if err != nil {
		return store.Key{}, fmt.Errorf("public jwk: %w", err)
	}

	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return store.Key{}, fmt.Errorf("encode private key: %w", err)
	}
	sealed, err := s.Seal(pub.KeyID(), der)
	if err != nil {
		return store.Key{}, err
	}
	return store.Key{
		KID:       pub.KeyID(),
		Alg:       alg,
		State:     store.KeyNext,
		PublicJWK: pubJSON,
		Sealed:    sealed,
		CreatedAt: now.UTC(),
	}, nil
}

// openKey decrypts a stored private key.
func openKey(s *Sealer, k store.Key) (crypto.Signer, error) {
	der, err := s.Open(k.KID, k.Sealed)
	if err != nil {
		return nil, fmt.Errorf("open key %s: %w", k.KID, err)
	}
	priv, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("parse key %s: %w", k.KID, err)
	}
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("parse key %s: %T is not a signing key", k.KID, priv)
	}
	return signer, nil
}
