package main

import (
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode"

	"gopkg.in/yaml.v3"

	"github.com/jwt-up/jwt-up/service"
)

// structuredKeys are the keys of the settings file that hold more than one
// value. They are read by loadProfiles, from the file only: no variable or
// flag sets them.
var structuredKeys = []string{"profiles", "trusted_issuers"}

// maxClaimDepth is the deepest nesting of a static claim's value.
const maxClaimDepth = 32

// loadProfiles reads the profiles and trusted issuers of the settings file at
// path ("" for none), with s's global settings as the defaults, and checks
// them.
//
// The globals are token_ttl, refresh_margin, claims_profile and token_type,
// which make the default profile and fill the fields a profile leaves out,
// and unknown_audience, taken from s.Profiles.DenyUnknown. Every problem is
// one line of the error, naming the file and the place in it; no line holds
// a secret.
func loadProfiles(path string, s settings) (service.Profiles, []service.TrustedIssuer, error) {
	p := service.Profiles{Default: defaultProfile(s), DenyUnknown: s.Profiles.DenyUnknown}
	d := &fileDecoder{path: path}

	var issuers []service.TrustedIssuer
	profilesOK := true
	if path != "" {
		doc, err := readStructured(path)
		if err != nil {
			return service.Profiles{}, nil, err
		}
		p.Audiences = d.profiles(doc["profiles"], p.Default)
		profilesOK = len(d.errs) == 0
		issuers = d.issuers(doc["trusted_issuers"])
	}

	if profilesOK {
		if err := p.Check(); err != nil {
			d.fail("%v", err)
		}
	}
	if len(d.errs) > 0 {
		return service.Profiles{}, nil, errors.Join(d.errs...)
	}
	return p, issuers, nil
}

// defaultProfile is the profile the global settings make: that of every
// audience without one, and the base of every profile.
func defaultProfile(s settings) service.AudienceProfile {
	return service.AudienceProfile{
		TTL:           s.TokenTTL,
		RefreshMargin: s.RefreshMargin,
		Claims:        s.ClaimsProfile,
		Type:          s.TokenType,
	}
}

// readStructured reads the settings file at path and returns its top-level
// values by key. The whole file is checked as rawSettings checks it, so
// that a reload refuses a file that a start would refuse.
func readStructured(path string) (map[string]*yaml.Node, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	scratch := map[string]string{}
	for _, st := range settingsTable {
		scratch[st.key] = st.def
	}
	if err := layYAML(path, data, scratch); err != nil {
		return nil, err
	}

	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("config %s: %s", path, oneLine(err))
	}
	out := map[string]*yaml.Node{}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		root = deref(root.Content[0])
	}
	if root.Kind != yaml.MappingNode {
		return out, nil // an empty file; readYAML refused anything else
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		out[root.Content[i].Value] = root.Content[i+1]
	}
	return out, nil
}

// fileDecoder turns the structured keys of a settings file into typed
// values, keeping one line per problem.
type fileDecoder struct {
	path string
	errs []error
}

// bad records a problem at place, e.g. profiles.orders-api.token_ttl.
func (d *fileDecoder) bad(place, format string, args ...any) {
	d.fail("%s: %s", place, fmt.Sprintf(format, args...))
}

// fail records a problem that names its own place.
func (d *fileDecoder) fail(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if d.path != "" {
		msg = fmt.Sprintf("config %s: %s", d.path, msg)
	}
	d.errs = append(d.errs, errors.New(msg))
}

// profiles reads the profiles key: audiences to profiles, each field of a
// profile left out taking def's.
func (d *fileDecoder) profiles(n *yaml.Node, def service.AudienceProfile) map[string]service.AudienceProfile {
	if n = deref(n); n == nil || isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		d.bad("profiles", "must map each audience to its profile")
		return nil
	}
	out := map[string]service.AudienceProfile{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode || isNull(k) {
			d.bad("profiles", "an audience at line %d is not a string", k.Line)
			continue
		}
		place := "profiles." + placeName(k.Value)
		if _, dup := out[k.Value]; dup {
			d.bad(place, "is given twice")
			continue
		}
		out[k.Value] = d.profile(place, v, def)
	}
	return out
}

// profile reads one audience's profile. A null profile is def.
func (d *fileDecoder) profile(
	place string, n *yaml.Node, def service.AudienceProfile,
) service.AudienceProfile {
	p := def
	if n = deref(n); isNull(n) {
		return p
	}
	d.fields(place, n, func(field string, v *yaml.Node) bool {
		at := place + "." + field
		switch field {
		case "token_ttl":
			p.TTL = d.duration(at, v)
		case "refresh_margin":
			p.RefreshMargin = d.duration(at, v)
		case "claims_profile":
			p.Claims = service.Profile(d.text(at, v))
		case "typ":
			p.Type = d.text(at, v)
		case "static_claims":
			p.StaticClaims = d.claims(at, v)
		case "allowed_claims":
			p.AllowedClaims = d.list(at, v)
		case "binding":
			p.Binding = d.boolean(at, v)
		default:
			return false
		}
		return true
	})
	return p
}

// issuers reads the trusted_issuers key, checking each issuer that reads
// well.
func (d *fileDecoder) issuers(n *yaml.Node) []service.TrustedIssuer {
	if n = deref(n); n == nil || isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		d.bad("trusted_issuers", "must be a list of issuers")
		return nil
	}
	var out []service.TrustedIssuer
	first := map[string]int{} // issuer to the index that named it first
	for i, item := range n.Content {
		place := issuerPlace(i, deref(item))
		before := len(d.errs)
		t := d.issuer(place, item)
		if len(d.errs) > before {
			continue
		}
		if err := t.Check(); err != nil {
			d.bad(place, "%v", err)
			continue
		}
		if j, dup := first[t.Issuer]; dup {
			d.bad(place, "issuer is also that of trusted_issuers[%d]; list each issuer once", j)
			continue
		}
		first[t.Issuer] = i
		out = append(out, t)
	}
	return out
}

// issuerPlace names the issuer at index i by its issuer value, or by i when
// that is missing or would not read well in one line.
func issuerPlace(i int, n *yaml.Node) string {
	if n.Kind == yaml.MappingNode {
		for j := 0; j+1 < len(n.Content); j += 2 {
			v := deref(n.Content[j+1])
			if n.Content[j].Value == "issuer" && v.Kind == yaml.ScalarNode && !isNull(v) &&
				v.Value != "" && !strings.ContainsAny(v.Value, "[]") && placeName(v.Value) == v.Value {
				return fmt.Sprintf("trusted_issuers[%s]", v.Value)
			}
		}
	}
	return fmt.Sprintf("trusted_issuers[%d]", i)
}

// issuer reads one trusted issuer. Periods left out stay zero, which the
// service reads as its defaults.
func (d *fileDecoder) issuer(place string, n *yaml.Node) service.TrustedIssuer {
	var (
		t          service.TrustedIssuer
		secretFrom string // the field the secret came from
	)
	if n = deref(n); isNull(n) {
		d.bad(place, "is empty")
		return t
	}
	d.fields(place, n, func(field string, v *yaml.Node) bool {
		at := place + "." + field
		switch field {
		case "issuer":
			t.Issuer = d.text(at, v)
		case "jwks_url":
			t.JWKSURL = d.text(at, v)
		case "keys":
			t.Keys = d.publicKeys(at, v)
		case "secret", "secret_file":
			if secretFrom != "" {
				d.bad(at, "set only one of secret and secret_file")
				return true
			}
			secretFrom = field
			t.Secret = d.secret(at, field == "secret_file", v)
		case "algorithms":
			t.Algorithms = d.list(at, v)
		case "audiences":
			t.Audiences = d.list(at, v)
		case "carry":
			t.Carry = d.list(at, v)
		case "subject_claim":
			if t.SubjectClaim = d.text(at, v); t.SubjectClaim == "" && isString(v) {
				d.bad(at, "is empty; leave it out for sub")
			}
		case "leeway":
			t.Leeway = d.duration(at, v)
		case "jwks_refresh":
			t.JWKSRefresh = d.duration(at, v)
		case "jwks_min_refetch":
			t.JWKSMinRefetch = d.duration(at, v)
		default:
			return false
		}
		return true
	})
	return t
}

// publicKeys reads the keys of an issuer. Each entry is PEM text when it
// starts with -----BEGIN, else the path of a PEM file, relative to the
// working directory as every other path setting is. Every block of the
// text or file is a key.
func (d *fileDecoder) publicKeys(at string, n *yaml.Node) []crypto.PublicKey {
	entries := d.list(at, n)
	if entries != nil && len(entries) == 0 {
		d.bad(at, "lists no key")
	}
	var keys []crypto.PublicKey
	for i, e := range entries {
		where := fmt.Sprintf("%s[%d]", at, i)
		if strings.HasPrefix(strings.TrimSpace(e), "-----BEGIN") {
			k, err := parsePublicKeysPEM([]byte(e))
			if err != nil {
				d.bad(where, "%v", err)
			}
			keys = append(keys, k...)
			continue
		}
		data, err := os.ReadFile(e)
		if err != nil {
			d.bad(where, "%v", err)
			continue
		}
		k, err := parsePublicKeysPEM(data)
		if err != nil {
			d.bad(where, "%s: %v", e, err)
		}
		keys = append(keys, k...)
	}
	return keys
}

// parsePublicKeysPEM reads every block of PEM data as a public key:
// PUBLIC KEY (PKIX), RSA PUBLIC KEY (PKCS #1) or CERTIFICATE, whose key is
// taken. Any other block is refused, so that a private key put here by
// mistake is noticed.
func parsePublicKeysPEM(data []byte) ([]crypto.PublicKey, error) {
	var keys []crypto.PublicKey
	for n := 1; ; n++ {
		var block *pem.Block
		if block, data = pem.Decode(data); block == nil {
			break
		}
		var (
			k   crypto.PublicKey
			err error
		)
		switch block.Type {
		case "PUBLIC KEY":
			k, err = x509.ParsePKIXPublicKey(block.Bytes)
		case "RSA PUBLIC KEY":
			k, err = x509.ParsePKCS1PublicKey(block.Bytes)
		case "CERTIFICATE":
			var cert *x509.Certificate
			if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
				k = cert.PublicKey
			}
		default:
			return nil, fmt.Errorf("PEM block %d is %q, not PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE", n, block.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("PEM block %d (%s): %s", n, block.Type, oneLine(err))
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New("holds no PEM block")
	}
	return keys, nil
}

// secret reads an HMAC secret: the value of secret, or the contents of the
// file secret_file names. Either is base64 (standard or URL alphabet,
// padded or not; spaces and line ends around it are ignored), never the raw
// bytes, so that a secret file and a secret value mean the same thing; a
// raw secret is written to a file with base64 -w0. No message names any
// part of the secret.
func (d *fileDecoder) secret(at string, fromFile bool, n *yaml.Node) []byte {
	v := d.text(at, n)
	if v == "" {
		if isString(n) {
			d.bad(at, "is empty")
		}
		return nil
	}
	what := "the value is"
	if fromFile {
		data, err := os.ReadFile(v)
		if err != nil {
			d.bad(at, "%v", err)
			return nil
		}
		v, what = string(data), "the contents of "+v+" are"
	}
	b, ok := decodeBase64(v)
	switch {
	case !ok:
		d.bad(at, "%s not base64 (encode a raw secret with: base64 -w0)", what)
		return nil
	case len(b) == 0:
		d.bad(at, "%s empty", what)
		return nil
	}
	return b
}

// fields calls field for each field of the mapping n, and refuses fields
// that it does not know and fields given twice.
func (d *fileDecoder) fields(place string, n *yaml.Node, field func(name string, v *yaml.Node) bool) {
	if n.Kind != yaml.MappingNode {
		d.bad(place, "must be a mapping of fields")
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := deref(n.Content[i])
		name := placeName(k.Value)
		switch {
		case k.Kind != yaml.ScalarNode:
			d.bad(place, "a field name at line %d is not a string", k.Line)
		case seen[k.Value]:
			d.bad(place+"."+name, "is given twice")
		case !field(k.Value, n.Content[i+1]):
			d.bad(place, "unknown field %q", k.Value)
		}
		seen[k.Value] = true
	}
}

// text reads a single value as a string.
func (d *fileDecoder) text(at string, n *yaml.Node) string {
	n = deref(n)
	switch {
	case isNull(n):
		d.bad(at, "has no value")
		return ""
	case n.Kind != yaml.ScalarNode:
		d.bad(at, "must be a single value")
		return ""
	}
	return n.Value
}

// duration reads a duration such as 30s or 10m.
func (d *fileDecoder) duration(at string, n *yaml.Node) time.Duration {
	if n = deref(n); isNull(n) || n.Kind != yaml.ScalarNode {
		d.text(at, n)
		return 0
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		d.bad(at, "%q is not a duration (write e.g. 30s, 5m)", n.Value)
	}
	return v
}

// boolean reads true or false.
func (d *fileDecoder) boolean(at string, n *yaml.Node) bool {
	var b bool
	n = deref(n)
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
		d.bad(at, "must be true or false")
	}
	return b
}

// list reads a list of strings. An empty list is empty, not nil; nil
// means the list did not read.
func (d *fileDecoder) list(at string, n *yaml.Node) []string {
	if n = deref(n); n.Kind != yaml.SequenceNode {
		d.bad(at, "must be a list, e.g. [a, b]")
		return nil
	}
	out := make([]string, 0, len(n.Content))
	for i, item := range n.Content {
		item = deref(item)
		if item.Kind != yaml.ScalarNode || isNull(item) {
			d.bad(fmt.Sprintf("%s[%d]", at, i), "must be a string")
			return nil
		}
		out = append(out, item.Value)
	}
	return out
}

// claims reads static claims: names to any YAML values, each encoded to
// JSON.
func (d *fileDecoder) claims(at string, n *yaml.Node) map[string]json.RawMessage {
	if n = deref(n); n.Kind != yaml.MappingNode {
		d.bad(at, "must map each claim name to its value")
		return nil
	}
	out := map[string]json.RawMessage{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := deref(n.Content[i])
		if k.Kind != yaml.ScalarNode || isNull(k) {
			d.bad(at, "a claim name at line %d is not a string", k.Line)
			continue
		}
		where := at + "." + placeName(k.Value)
		if _, dup := out[k.Value]; dup {
			d.bad(where, "is given twice")
			continue
		}
		v, err := jsonValue(n.Content[i+1], 0)
		if err == nil {
			out[k.Value], err = json.Marshal(v)
		}
		if err != nil {
			d.bad(where, "%v", err)
		}
	}
	return out
}

// jsonValue turns a YAML value into one encoding/json writes: objects with
// string keys, arrays, strings, numbers, booleans and null.
func jsonValue(n *yaml.Node, depth int) (any, error) {
	if depth > maxClaimDepth {
		return nil, fmt.Errorf("nests deeper than %d levels", maxClaimDepth)
	}
	n = deref(n)
	switch n.Kind {
	case yaml.MappingNode:
		obj := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := deref(n.Content[i])
			if k.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("a key at line %d is not a string", k.Line)
			}
			if _, dup := obj[k.Value]; dup {
				return nil, fmt.Errorf("key %q is given twice", k.Value)
			}
			v, err := jsonValue(n.Content[i+1], depth+1)
			if err != nil {
				return nil, err
			}
			obj[k.Value] = v
		}
		return obj, nil
	case yaml.SequenceNode:
		arr := make([]any, 0, len(n.Content))
		for _, item := range n.Content {
			v, err := jsonValue(item, depth+1)
			if err != nil {
				return nil, err
			}
			arr = append(arr, v)
		}
		return arr, nil
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return nil, fmt.Errorf("line %d: %s", n.Line, oneLine(err))
	}
	switch v := v.(type) {
	case float64:
		if math.IsInf(v, 0) || math.IsNaN(v) {
			return nil, fmt.Errorf("%s is not a JSON number", n.Value)
		}
	case time.Time:
		return n.Value, nil // a timestamp stays as written
	}
	return v, nil
}

// deref follows an alias to the value it names.
func deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// isNull reports whether n is YAML null: ~, null or nothing at all.
func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

// isString reports whether n is a single value other than null.
func isString(n *yaml.Node) bool {
	n = deref(n)
	return n.Kind == yaml.ScalarNode && !isNull(n)
}

// placeName is a name as an error line shows it: as is when printable,
// else quoted, so that the line stays one line.
func placeName(name string) string {
	if name != "" && !strings.ContainsFunc(name, func(r rune) bool { return !unicode.IsPrint(r) }) {
		return name
	}
	return strconv.Quote(name)
}
