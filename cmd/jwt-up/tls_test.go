package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

var serial int64 = 1

// newCertificate makes a certificate from tmpl, signed by ca (self-signed
// when ca is nil).
func newCertificate(t *testing.T, tmpl *x509.Certificate, ca *testCA) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial++
	tmpl.SerialNumber = big.NewInt(serial)
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	parent, signer := tmpl, key
	if ca != nil {
		parent, signer = ca.cert, ca.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	cert, key := newCertificate(t, &x509.Certificate{
		Subject: pkix.Name{CommonName: name}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign,
	}, nil)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})}
}

// leaf makes a certificate for cn signed by ca, for server or client use.
func (ca *testCA) leaf(t *testing.T, cn string, usage x509.ExtKeyUsage) tls.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{Subject: pkix.Name{CommonName: cn}, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		KeyUsage: x509.KeyUsageDigitalSignature}
	if usage == x509.ExtKeyUsageServerAuth {
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	cert, key := newCertificate(t, tmpl, ca)
	return tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}
}

// writePair writes c's certificate and key as PEM files in dir.
func writePair(t *testing.T, dir, name string, c tls.Certificate) (certFile, keyFile string) {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	write := func(path, typ string, b []byte) {
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(certFile, "CERTIFICATE", c.Certificate[0])
	write(keyFile, "PRIVATE KEY", der)
	return certFile, keyFile
}

// pki is the certificates of a TLS test, with the files the settings name.
type pki struct {
	ca                          *testCA
	certFile, keyFile, caFile   string
	gateway, intruder, stranger tls.Certificate // client certificates
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	dir := t.TempDir()
	p := &pki{ca: newTestCA(t, "jwt-up test CA")}
	p.certFile, p.keyFile = writePair(t, dir, "server", p.ca.leaf(t, "jwt-up", x509.ExtKeyUsageServerAuth))
	p.caFile = filepath.Join(dir, "clients.pem")
	if err := os.WriteFile(p.caFile, p.ca.pem, 0o600); err != nil {
		t.Fatal(err)
	}
	p.gateway = p.ca.leaf(t, "kong-1", x509.ExtKeyUsageClientAuth)
	p.intruder = p.ca.leaf(t, "intruder", x509.ExtKeyUsageClientAuth)
	p.stranger = newTestCA(t, "another CA").leaf(t, "kong-1", x509.ExtKeyUsageClientAuth)
	return p
}

// client returns an HTTPS client that trusts the test CA and presents
// certs, if any: always, even when the server asks for another issuer.
func (p *pki) client(maxVersion uint16, certs ...tls.Certificate) *http.Client {
	roots := x509.NewCertPool()
	roots.AddCert(p.ca.cert)
	cfg := &tls.Config{RootCAs: roots, MaxVersion: maxVersion}
	if len(certs) > 0 {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return &certs[0], nil
		}
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
}

// tlsMint posts a mint request with client, and auth as Authorization
// unless empty; it returns the status, or 0 when no answer came.
func tlsMint(t *testing.T, client *http.Client, url, auth string) int {
	t.Helper()
	return tlsDo(t, client, http.MethodPost, url+"/v1/tokens", auth)
}

func tlsDo(t *testing.T, client *http.Client, method, url, auth string) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(`{"consumer":{"id":"alice"}}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

const tlsGatewayKey = "tls-gateway-key-0123456789"

func TestServeTLS(t *testing.T) {
	p := newPKI(t)
	e := testEnv(t).with("JWTUP_TLS_CERT", p.certFile, "JWTUP_TLS_KEY", p.keyFile,
		"JWTUP_GATEWAY_KEYS", tlsGatewayKey)
	s, err := startServerWith(t, e, "https", p.client(0))
	if err != nil {
		t.Fatal(err)
	}

	if got := tlsMint(t, s.client, s.url, "Bearer "+tlsGatewayKey); got != http.StatusOK {
		t.Errorf("mint over HTTPS: got %d, want 200", got)
	}
	if got := tlsMint(t, p.client(tls.VersionTLS11), s.url, "Bearer "+tlsGatewayKey); got != 0 {
		t.Errorf("mint over TLS 1.1: got %d, want no answer", got)
	}
	if got := tlsMint(t, http.DefaultClient, "http://"+s.addr, "Bearer "+tlsGatewayKey); got == http.StatusOK {
		t.Errorf("mint over plain HTTP to the TLS port: got 200")
	}
	// Without a client CA no certificate is asked for: one given is ignored.
	if got := tlsMint(t, p.client(0, p.gateway), s.url, ""); got != http.StatusUnauthorized {
		t.Errorf("client certificate without JWTUP_TLS_CLIENT_CA: got %d, want 401", got)
	}
	s.mustStop(t)
}

func TestServeMTLS(t *testing.T) {
	p := newPKI(t)
	const adminKey = "tls-admin-key-0123456789"
	e := testEnv(t).with("JWTUP_TLS_CERT", p.certFile, "JWTUP_TLS_KEY", p.keyFile,
		"JWTUP_TLS_CLIENT_CA", p.caFile, "JWTUP_TLS_CLIENT_SUBJECTS", "kong-1, nginx-1",
		"JWTUP_GATEWAY_KEYS", tlsGatewayKey, "JWTUP_ADMIN_KEYS", adminKey)
	s, err := startServerWith(t, e, "https", p.client(0))
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name   string
		client *http.Client
		auth   string
		want   int
	}{
		{"allowed certificate, no key", p.client(0, p.gateway), "", http.StatusOK},
		{"no certificate, gateway key", p.client(0), "Bearer " + tlsGatewayKey, http.StatusOK},
		{"no certificate, no key", p.client(0), "", http.StatusUnauthorized},
		{"certificate not on the list, no key", p.client(0, p.intruder), "", http.StatusUnauthorized},
		{"certificate not on the list, gateway key", p.client(0, p.intruder), "Bearer " + tlsGatewayKey, http.StatusOK},
		{"certificate of another CA", p.client(0, p.stranger), "Bearer " + tlsGatewayKey, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tlsMint(t, tc.client, s.url, tc.auth); got != tc.want {
				t.Errorf("got %d, want %d (0: no answer)", got, tc.want)
			}
		})
	}

	t.Run("never for the admin API", func(t *testing.T) {
		c := p.client(0, p.gateway)
		if got := tlsDo(t, c, http.MethodGet, s.url+"/v1/keys", ""); got != http.StatusUnauthorized {
			t.Errorf("admin with an allowed certificate, no key: got %d, want 401", got)
		}
		if got := tlsDo(t, c, http.MethodGet, s.url+"/v1/keys", "Bearer "+adminKey); got != http.StatusOK {
			t.Errorf("admin with the admin key: got %d, want 200", got)
		}
	})
	s.mustStop(t)
	if !strings.Contains(s.log.String(), `"client_cert":"kong-1"`) {
		t.Errorf("no access line names the client certificate:\n%s", s.log)
	}
}
