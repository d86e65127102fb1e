package service

import (
	"bytes"
	"crypto/ecdsa"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

func TestECDSASignerVerifiesWithJWX(t *testing.T) {
	for _, alg := range []jwa.SignatureAlgorithm{jwa.ES256, jwa.ES384} {
		t.Run(alg.String(), func(t *testing.T) {
			key, err := GenerateKey(alg.String())
			if err != nil {
				t.Fatal(err)
			}
			priv := key.(*ecdsa.PrivateKey)
			s, ok := newECDSASigner(alg)
			if !ok {
				t.Fatalf("no signer for %s", alg)
			}
			// Many payloads, so that some r or s has leading zero bytes
			// and must be padded for the signature to verify.
			for i := range 300 {
				payload := []byte(strings.Repeat("x", i))
				sig, err := s.Sign(payload, priv)
				if err != nil {
					t.Fatal(err)
				}
				if len(sig) != 2*s.size {
					t.Fatalf("signature of %d bytes, want %d", len(sig), 2*s.size)
				}
				v, err := jws.NewVerifier(alg)
				if err != nil {
					t.Fatal(err)
				}
				if err := v.Verify(payload, sig, &priv.PublicKey); err != nil {
					t.Fatalf("payload %d: jwx rejects the signature: %v", i, err)
				}
				again, err := s.Sign(payload, priv)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(sig, again) {
					t.Fatalf("payload %d: two signatures differ; RFC 6979 makes them equal", i)
				}
			}
		})
	}
}

func TestECDSASignerRejectsWrongKeys(t *testing.T) {
	p384, err := GenerateKey("ES384")
	if err != nil {
		t.Fatal(err)
	}
	edKey, err := GenerateKey("EdDSA")
	if err != nil {
		t.Fatal(err)
	}
	s, _ := newECDSASigner(jwa.ES256)
	for name, key := range map[string]any{"P-384 key": p384, "Ed25519 key": edKey, "nil": nil} {
		if _, err := s.Sign([]byte("x"), key); err == nil {
			t.Errorf("ES256 signed with a %s", name)
		}
	}
	if _, ok := newECDSASigner(jwa.RS256); ok {
		t.Error("newECDSASigner took RS256")
	}
}

func TestFixedWidthSignature(t *testing.T) {
	der := func(r, s []byte) []byte {
		var b cryptobyte.Builder
		b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(asn1.INTEGER, func(b *cryptobyte.Builder) { b.AddBytes(r) })
			b.AddASN1(asn1.INTEGER, func(b *cryptobyte.Builder) { b.AddBytes(s) })
		})
		return b.BytesOrPanic()
	}
	got, err := fixedWidthSignature(der([]byte{0x00, 0x80, 0x01}, []byte{0x05}), 4)
	if err != nil {
		t.Fatal(err)
	}
	if want := []byte{0, 0, 0x80, 0x01, 0, 0, 0, 0x05}; !bytes.Equal(got, want) {
		t.Fatalf("got %x, want %x", got, want)
	}
	for name, in := range map[string][]byte{
		"empty":          nil,
		"r too long":     der([]byte{1, 2, 3, 4, 5}, []byte{1}),
		"zero s":         der([]byte{1}, []byte{0}),
		"trailing bytes": append(der([]byte{1}, []byte{1}), 0),
		"one integer":    der([]byte{1}, nil)[:5],
	} {
		if _, err := fixedWidthSignature(in, 4); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
