package service

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"testing"
)

// FuzzParsePrivateKeyPEM feeds ParsePrivateKeyPEM any bytes: it must never
// panic, and fail only with ErrInvalidKey. A key it accepts must go through
// the import checks the same way. The seeds are fresh keys of every kind
// and encoding, cut and mixed with other blocks; testdata/fuzz holds
// malformed files that need no key.
func FuzzParsePrivateKeyPEM(f *testing.F) {
	for _, block := range seedKeyBlocks(f) {
		key := pem.EncodeToMemory(block)
		f.Add(key)
		f.Add(key[:len(key)/2])
		f.Add(append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{0x30, 0}}), key...))
		bad := *block
		bad.Bytes = append([]byte(nil), block.Bytes...)
		bad.Bytes[len(bad.Bytes)/2] ^= 0xff
		f.Add(pem.EncodeToMemory(&bad))
	}
	f.Add([]byte(""))
	f.Add([]byte("-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n"))

	f.Fuzz(func(t *testing.T, data []byte) {
		signer, err := ParsePrivateKeyPEM(data)
		if err != nil {
			if !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("got error %v, want one wrapping ErrInvalidKey", err)
			}
			if signer != nil {
				t.Fatalf("got a %T with error %v", signer, err)
			}
			return
		}
		if signer == nil || signer.Public() == nil {
			t.Fatalf("got signer %v and no error", signer)
		}
		for _, alg := range Algorithms {
			if err := CheckImport(signer, alg); err != nil && !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("CheckImport(%T, %s): got %v, want nil or ErrInvalidKey", signer, alg, err)
			}
		}
	})
}

// seedKeyBlocks makes one PEM block of each kind ParsePrivateKeyPEM reads,
// and an X25519 key, which parses but cannot sign.
func seedKeyBlocks(f *testing.F) []*pem.Block {
	f.Helper()
	// 1024 bits keeps the seeds quick to make; import refuses it, which is
	// a path worth fuzzing too.
	rsaKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		f.Fatal(err)
	}
	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	x25519, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		f.Fatal(err)
	}

	blocks := []*pem.Block{{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}}
	for _, k := range []crypto.Signer{p256, p384} {
		der, err := x509.MarshalECPrivateKey(k.(*ecdsa.PrivateKey))
		if err != nil {
			f.Fatal(err)
		}
		blocks = append(blocks, &pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
	}
	for _, k := range []any{rsaKey, p256, p384, edKey, x25519} {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			f.Fatal(err)
		}
		blocks = append(blocks, &pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	return blocks
}
