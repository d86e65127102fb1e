package service

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"testing"
	"time"
)

// thumbprint computes the RFC 7638 thumbprint by hand, as a check on the
// library that assigns kids.
func thumbprint(t *testing.T, pub crypto.PublicKey) string {
	t.Helper()
	b64 := base64.RawURLEncoding.EncodeToString
	pad := func(n *big.Int, size int) string { return b64(n.FillBytes(make([]byte, size))) }
	var members string
	switch k := pub.(type) {
	case *rsa.PublicKey:
		e := big.NewInt(int64(k.E)).Bytes()
		members = fmt.Sprintf(`{"e":%q,"kty":"RSA","n":%q}`, b64(e), b64(k.N.Bytes()))
	case *ecdsa.PublicKey:
		size := (k.Curve.Params().BitSize + 7) / 8
		members = fmt.Sprintf(`{"crv":%q,"kty":"EC","x":%q,"y":%q}`,
			k.Curve.Params().Name, pad(k.X, size), pad(k.Y, size))
	case ed25519.PublicKey:
		members = fmt.Sprintf(`{"crv":"Ed25519","kty":"OKP","x":%q}`, b64(k))
	default:
		t.Fatalf("no thumbprint for %T", pub)
	}
	sum := sha256.Sum256([]byte(members))
	return b64(sum[:])
}

func TestSealKeyEveryAlgorithm(t *testing.T) {
	s := newTestSealer(t)
	now := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	for _, alg := range Algorithms {
		t.Run(alg, func(t *testing.T) {
			priv, err := GenerateKey(alg)
			if err != nil {
				t.Fatal(err)
			}
			k, err := sealKey(s, alg, priv, now)
			if err != nil {
				t.Fatal(err)
			}
			if want := thumbprint(t, priv.Public()); k.KID != want {
				t.Errorf("kid = %s, want thumbprint %s", k.KID, want)
			}

			var pub map[string]any
			if err := json.Unmarshal(k.PublicJWK, &pub); err != nil {
				t.Fatal(err)
			}
			if pub["alg"] != alg || pub["use"] != "sig" || pub["kid"] != k.KID {
				t.Errorf("public JWK = %v, want alg %s, use sig, kid %s", pub, alg, k.KID)
			}
			for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
				if _, ok := pub[private]; ok {
					t.Errorf("public JWK has private member %q", private)
				}
			}

			opened, err := openKey(s, k)
			if err != nil {
				t.Fatal(err)
			}
			if !opened.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(priv.Public()) {
				t.Error("opened key differs from the generated one")
			}
		})
	}
}

func pemOf(t *testing.T, typ string, der []byte) []byte {
	t.Helper()
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func TestParsePrivateKeyPEM(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	pkcs8 := func(k any) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	sec1, err := x509.MarshalECPrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		pem     []byte
		wantAlg string // AlgorithmFor with preferred RS256
	}{
		{"PKCS #1 RSA", pemOf(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey)), "RS256"},
		{"PKCS #8 RSA", pemOf(t, "PRIVATE KEY", pkcs8(rsaKey)), "RS256"},
		{"SEC 1 P-384", pemOf(t, "EC PRIVATE KEY", sec1), "ES384"},
		{"PKCS #8 Ed25519", pemOf(t, "PRIVATE KEY", pkcs8(edKey)), "EdDSA"},
		{"certificate before key", append(pemOf(t, "CERTIFICATE", []byte{1}), pemOf(t, "PRIVATE KEY", pkcs8(edKey))...), "EdDSA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			priv, err := ParsePrivateKeyPEM(tt.pem)
			if err != nil {
				t.Fatal(err)
			}
			alg, err := AlgorithmFor(priv, "RS256")
			if err != nil || alg != tt.wantAlg {
				t.Fatalf("AlgorithmFor = %q, %v; want %q", alg, err, tt.wantAlg)
			}
		})
	}
}

func TestParsePrivateKeyPEMRefuses(t *testing.T) {
	weak, _ := rsa.GenerateKey(rand.Reader, 1024)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub, _ := x509.MarshalPKIXPublicKey(ecKey.Public())

	if _, err := ParsePrivateKeyPEM([]byte("not pem")); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("garbage: err = %v, want ErrInvalidKey", err)
	}
	if _, err := ParsePrivateKeyPEM(pemOf(t, "PUBLIC KEY", pub)); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("public key: err = %v, want ErrInvalidKey", err)
	}
	if _, err := ParsePrivateKeyPEM(pemOf(t, "PRIVATE KEY", []byte("junk"))); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("bad DER: err = %v, want ErrInvalidKey", err)
	}
	if err := checkKeyFits("RS256", weak); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("1024-bit RSA: err = %v, want ErrInvalidKey", err)
	}
	if err := checkKeyFits("ES384", ecKey); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("P-256 key for ES384: err = %v, want ErrInvalidKey", err)
	}
	if err := checkKeyFits("RS256", ecKey); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("EC key for RS256: err = %v, want ErrInvalidKey", err)
	}
}
