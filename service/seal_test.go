package service

import (
	"bytes"
	"errors"
	"testing"
)

func TestSealRoundTrip(t *testing.T) {
	s := newTestSealer(t)
	plain := []byte("private key bytes")
	sealed, err := s.Seal("kid-1", plain)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, plain) {
		t.Fatal("sealed blob contains the plain text")
	}
	got, err := s.Open("kid-1", sealed)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, plain) {
		t.Fatalf("Open = %q, want %q", got, plain)
	}
}

func TestSealRefuses(t *testing.T) {
	s := newTestSealer(t)
	sealed, err := s.Seal("kid-1", []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	tampered := bytes.Clone(sealed)
	tampered[len(tampered)-1] ^= 1

	tests := []struct {
		name   string
		sealer *Sealer
		kid    string
		blob   []byte
	}{
		{"other KEK", newTestSealer(t), "kid-1", sealed},
		{"other kid", s, "kid-2", sealed},
		{"tampered", s, "kid-1", tampered},
		{"truncated", s, "kid-1", sealed[:5]},
		{"empty", s, "kid-1", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.sealer.Open(tt.kid, tt.blob); !errors.Is(err, ErrKEKMismatch) {
				t.Fatalf("Open err = %v, want ErrKEKMismatch", err)
			}
		})
	}
}

func TestNewSealerKeyLength(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33} {
		if _, err := NewSealer(make([]byte, n)); err == nil {
			t.Errorf("NewSealer(%d bytes) succeeded, want an error", n)
		}
	}
}
