package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"os"
)

// maxPEMFile bounds what is read from a certificate or key file, so that a
// setting naming a device or a huge file cannot hang or exhaust the start.
const maxPEMFile = 1 << 20

// parseTLS reads the files the TLS settings name and builds the listener's
// TLS config, nil for plain HTTP, with the client certificate names that
// authenticate a gateway. Each problem is reported through bad.
//
// TODO: the certificate is read at start only; a renewed certificate takes
// effect at the next restart (a rolling restart loses no request). Reading
// it again in tls.Config.GetCertificate when the file changes would spare
// the restart.
func parseTLS(raw map[string]string, bad badFunc) (*tls.Config, []string) {
	certFile, keyFile, caFile := raw["tls_cert"], raw["tls_key"], raw["tls_client_ca"]
	subjects := splitList(raw["tls_client_subjects"])
	if len(subjects) > 0 && caFile == "" {
		bad("tls_client_subjects", "needs JWTUP_TLS_CLIENT_CA: only a certificate verified against it is matched")
	}

	switch {
	case certFile == "" && keyFile == "":
		if caFile != "" {
			bad("tls_client_ca", "needs JWTUP_TLS_CERT and JWTUP_TLS_KEY: client certificates are asked for over TLS only")
		}
		return nil, subjects
	case keyFile == "":
		bad("tls_key", "must be set with JWTUP_TLS_CERT: set both or neither")
		return nil, subjects
	case certFile == "":
		bad("tls_cert", "must be set with JWTUP_TLS_KEY: set both or neither")
		return nil, subjects
	}

	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if cert, ok := loadKeyPair(certFile, keyFile, bad); ok {
		cfg.Certificates = []tls.Certificate{cert}
	}
	if caFile != "" {
		cfg.ClientCAs = loadClientCAs(caFile, bad)
		// IfGiven, not Require: gateways with a bearer key and no
		// certificate keep working. A certificate that is given must verify.
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
		if len(subjects) == 0 {
			bad("tls_client_subjects", "must name the allowed client certificates when JWTUP_TLS_CLIENT_CA is set")
		}
	}
	return cfg, subjects
}

// loadKeyPair reads the listener's certificate chain and private key.
func loadKeyPair(certFile, keyFile string, bad badFunc) (tls.Certificate, bool) {
	certPEM, err := readPEMFile(certFile)
	if err != nil {
		bad("tls_cert", "%v", err)
	}
	keyPEM, keyErr := readPEMFile(keyFile)
	if keyErr != nil {
		bad("tls_key", "%v", keyErr)
	}
	if err != nil || keyErr != nil {
		return tls.Certificate{}, false
	}
	// The errors of X509KeyPair name PEM block types, never key material.
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		bad("tls_cert", "%s and the key in JWTUP_TLS_KEY do not form a pair: %v", certFile, err)
		return tls.Certificate{}, false
	}
	return cert, true
}

// loadClientCAs reads the CA bundle that verifies client certificates.
func loadClientCAs(path string, bad badFunc) *x509.CertPool {
	data, err := readPEMFile(path)
	if err != nil {
		bad("tls_client_ca", "%v", err)
		return nil
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		bad("tls_client_ca", "%s holds no PEM certificate", path)
		return nil
	}
	return pool
}

// readPEMFile reads a certificate or key file.
func readPEMFile(path string) ([]byte, error) { return readLimited(path, maxPEMFile) }

// readLimited reads path, refusing a file longer than limit bytes.
func readLimited(path string, limit int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(data) > limit {
		return nil, fmt.Errorf("%s is longer than %d bytes", path, limit)
	}
	return data, nil
}
