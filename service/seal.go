package service

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
)

// KEKSize is the length in bytes of a key-encryption key (AES-256).
const KEKSize = 32

// sealVersion prefixes every sealed blob so the format can change later
// without guessing what an old row holds.
const sealVersion byte = 1

// ErrKEKMismatch means a sealed key could not be opened: the key-encryption
// key is not the one it was sealed under, or the blob was altered.
var ErrKEKMismatch = errors.New("the key-encryption key does not open the stored keys")

// Sealer encrypts private keys at rest with AES-256-GCM.
type Sealer struct {
	aead cipher.AEAD
}

// NewSealer returns a Sealer for a 32-byte key-encryption key.
func NewSealer(kek []byte) (*Sealer, error) {
	if len(kek) != KEKSize {
		return nil, fmt.Errorf("key-encryption key: want %d bytes, got %d", KEKSize, len(kek))
	}
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, fmt.Errorf("key-encryption key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("key-encryption key: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts plain. The kid is bound as associated data, so a sealed key
// copied onto another row does not open.
func (s *Sealer) Seal(kid string, plain []byte) ([]byte, error) {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal: read nonce: %w", err)
	}
	out := append([]byte{sealVersion}, nonce...)
	return s.aead.Seal(out, nonce, plain, []byte(kid)), nil
}

// Open decrypts what Seal returned for the same kid.
func (s *Sealer) Open(kid string, sealed []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < 1+n || sealed[0] != sealVersion {
		return nil, ErrKEKMismatch
	}
	plain, err := s.aead.Open(nil, sealed[1:1+n], sealed[1+n:], []byte(kid))
	if err != nil {
		return nil, ErrKEKMismatch
	}
	return plain, nil
}

// reseal opens what s sealed for kid and seals it again under to. The
// plain key is wiped from memory before it returns.
func (s *Sealer) reseal(to *Sealer, kid string, sealed []byte) ([]byte, error) {
	plain, err := s.Open(kid, sealed)
	if err != nil {
		return nil, err
	}
	defer clear(plain)
	return to.Seal(kid, plain)
}
