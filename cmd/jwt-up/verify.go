package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"
	"github.com/spf13/cobra"
)

// errInvalidToken ends a verify run whose token failed; the reasons are
// already printed.
var errInvalidToken = errors.New("the token is not valid")

// verifyAlgs are the algorithms jwt-up signs with, the default of --alg.
var verifyAlgs = []string{"RS256", "PS256", "ES256", "ES384", "EdDSA"}

func verifyCmd(open openFunc) *cobra.Command {
	var (
		jwksURL  string
		audience string
		algs     []string
	)
	cmd := &cobra.Command{
		Use:   "verify [--jwks URL] [--issuer ISSUER] [--audience AUDIENCE] TOKEN|-",
		Short: "Verify a token as an upstream would, and say why it fails",
		Long: "Verify a token as an upstream would: print its header and claims, then \"valid\", " +
			"or each reason it fails, and exit 1.\n\n" +
			"Without --jwks the keys are the ones the local key store publishes, and the issuer " +
			"is JWTUP_ISSUER (or --issuer). With --jwks the keys come from that URL, and the issuer " +
			"is checked only when --issuer is given. The audience is checked when --audience is " +
			"given. TOKEN \"-\" reads the token from standard input; a \"Bearer \" prefix is ignored.",
		Example: `  jwt-up verify --audience orders-api "$TOKEN"
  jwt-up verify --jwks https://jwt-up.example/.well-known/jwks.json \
    --issuer https://jwt-up.example --audience orders-api - < token.txt`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			token, err := readToken(cmd.InOrStdin(), args[0])
			if err != nil {
				return err
			}
			v := verification{audience: audience, algs: algs, now: time.Now}

			if jwksURL != "" {
				v.keysFrom = jwksURL
				v.set, err = fetchJWKS(ctx, jwksURL)
				if err != nil {
					return err
				}
				if f := cmd.Flags().Lookup("issuer"); f != nil && f.Changed {
					v.issuer = f.Value.String()
				}
			} else {
				a, err := open(cmd, false)
				if err != nil {
					return err
				}
				defer a.Close()
				if err := a.openKeys(ctx, false); err != nil {
					return err
				}
				body, _ := a.keys.JWKS()
				if v.set, err = jwk.Parse(body); err != nil {
					return fmt.Errorf("read the local JWKS: %w", err)
				}
				v.keysFrom = "the local key store"
				v.issuer = a.settings.Issuer
			}
			return v.report(cmd.OutOrStdout(), token)
		},
	}
	f := cmd.Flags()
	f.StringVar(&jwksURL, "jwks", "", "JWKS URL to take the keys from (default: the local key store)")
	f.StringVar(&audience, "audience", "", "audience the token must name (default: not checked)")
	f.StringSliceVar(&algs, "alg", verifyAlgs, "algorithms to accept (repeat, or comma separated)")
	return cmd
}

// readToken returns the token in arg, or on r when arg is "-".
func readToken(r io.Reader, arg string) (string, error) {
	if arg == "-" {
		b, err := io.ReadAll(r)
		if err != nil {
			return "", fmt.Errorf("read the token from standard input: %w", err)
		}
		arg = string(b)
	}
	token := strings.TrimSpace(arg)
	if len(token) > 7 && strings.EqualFold(token[:7], "bearer ") {
		token = strings.TrimSpace(token[7:])
	}
	if token == "" {
		return "", errors.New("no token given")
	}
	return token, nil
}

// fetchJWKS reads the key set at url.
func fetchJWKS(ctx context.Context, url string) (jwk.Set, error) {
	client := &http.Client{Timeout: 10 * time.Second}
	set, err := jwk.Fetch(ctx, url, jwk.WithHTTPClient(client))
	if err != nil {
		return nil, fmt.Errorf("fetch JWKS %s: %w", url, err)
	}
	return set, nil
}

// verification is what a token is checked against.
type verification struct {
	set      jwk.Set
	keysFrom string // where set came from, for messages
	issuer   string // "": not checked
	audience string // "": not checked
	algs     []string
	now      func() time.Time
}

// header holds the protected header fields verify looks at.
type header struct {
	Alg string `json:"alg"`
	KID string `json:"kid"`
}

// report prints token's header and claims, then "valid" or one line per
// reason it fails; it returns errInvalidToken for a failure.
func (v verification) report(w io.Writer, token string) error {
	parts := strings.Split(token, ".")
	hdr, claims, problem := decodeParts(parts)
	printJSON(w, "header", hdr)
	printJSON(w, "claims", claims)

	reasons := []string{problem}
	if problem == "" {
		reasons = v.check(token, hdr)
	}
	if len(reasons) == 0 {
		done, skipped := v.checked()
		fmt.Fprintf(w, "checked: %s\n", strings.Join(done, ", "))
		if len(skipped) > 0 {
			fmt.Fprintf(w, "not checked: %s\n", strings.Join(skipped, ", "))
		}
		fmt.Fprintln(w, "valid")
		return nil
	}
	for _, r := range reasons {
		fmt.Fprintf(w, "invalid: %s\n", r)
	}
	return errInvalidToken
}

// decodeParts decodes the header and claims of a compact JWS without
// trusting them, for printing; problem says what makes it no JWS.
func decodeParts(parts []string) (hdr, claims []byte, problem string) {
	switch len(parts) {
	case 3:
	case 5:
		return nil, nil, "this is an encrypted token (JWE, five parts); jwt-up signs, it does not encrypt"
	default:
		return nil, nil, fmt.Sprintf("not a signed JWT: it has %d dot-separated parts, want 3", len(parts))
	}
	hdr, err := decodeJSONPart(parts[0])
	if err != nil {
		return nil, nil, "the header is not base64url JSON: " + err.Error()
	}
	claims, err = decodeJSONPart(parts[1])
	if err != nil {
		return hdr, nil, "the claims are not base64url JSON: " + err.Error()
	}
	return hdr, claims, ""
}

func decodeJSONPart(s string) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	if !json.Valid(b) {
		return nil, errors.New("invalid JSON")
	}
	return b, nil
}

// printJSON writes raw indented under a label, keeping the token's own
// order of fields; nothing when raw is nil.
func printJSON(w io.Writer, label string, raw []byte) {
	if raw == nil {
		return
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		buf.Reset()
		buf.Write(raw)
	}
	fmt.Fprintf(w, "%s:\n%s\n", label, buf.String())
}

// check verifies token and returns every reason it fails, none when it is
// valid. The header was decoded already.
func (v verification) check(token string, rawHdr []byte) []string {
	var h header
	if err := json.Unmarshal(rawHdr, &h); err != nil {
		return []string{"the header does not parse: " + err.Error()}
	}
	if reason := v.checkKey(h); reason != "" {
		return []string{reason}
	}

	// The key is known and fits: what fails now is the signature or
	// a claim.
	_, err := jwt.Parse([]byte(token), v.parseOptions()...)
	if err == nil {
		return nil
	}
	switch {
	case jws.IsVerificationError(err):
		return []string{fmt.Sprintf("bad signature: key %s does not verify it; the header or claims "+
			"were changed after signing, or another key with the same kid signed it", h.KID)}
	case !isClaimError(err):
		return []string{"cannot verify: " + err.Error()}
	}

	// The signature holds. Name each claim that fails, not only the
	// first, so that one run shows everything to fix.
	tok, err := jwt.ParseInsecure([]byte(token))
	if err != nil {
		return []string{"the claims do not parse: " + err.Error()}
	}
	return v.claimProblems(tok)
}

// checkKey returns why the key the header names cannot verify the token,
// or "".
func (v verification) checkKey(h header) string {
	switch {
	case h.Alg == "none":
		return "the token is not signed (alg \"none\")"
	case !slices.Contains(v.algs, h.Alg):
		return fmt.Sprintf("algorithm %q is not allowed; allowed: %s", h.Alg, strings.Join(v.algs, ", "))
	case h.KID == "":
		return "the header names no key (kid); jwt-up always sets one"
	}
	key, ok := v.set.LookupKeyID(h.KID)
	if !ok {
		return fmt.Sprintf("unknown kid: key %s is not in the JWKS of %s, which has %s; a revoked or "+
			"long-retired key leaves the JWKS, and another jwt-up (other data dir or database) has other keys",
			h.KID, v.keysFrom, v.kids())
	}
	if alg := key.Algorithm().String(); alg != "" && alg != h.Alg {
		return fmt.Sprintf("algorithm mismatch: the token says %s, but key %s is published for %s", h.Alg, h.KID, alg)
	}
	if use := key.KeyUsage(); use != "" && use != string(jwk.ForSignature) {
		return fmt.Sprintf("key %s is published for use %q, not for signatures", h.KID, use)
	}
	return ""
}

// kids lists the keys of the set with their algorithms.
func (v verification) kids() string {
	if v.set.Len() == 0 {
		return "no keys at all"
	}
	var out []string
	for i := range v.set.Len() {
		k, _ := v.set.Key(i)
		out = append(out, fmt.Sprintf("%s (%s)", k.KeyID(), k.Algorithm()))
	}
	return strings.Join(out, ", ")
}

func (v verification) clock() jwt.Clock { return jwt.ClockFunc(v.now) }

// parseOptions verify the signature with the set and validate every
// claim that is checked.
func (v verification) parseOptions() []jwt.ParseOption {
	opts := []jwt.ParseOption{
		jwt.WithKeySet(v.set),
		jwt.WithValidate(true),
		jwt.WithClock(v.clock()),
		jwt.WithRequiredClaim(jwt.ExpirationKey),
	}
	if v.issuer != "" {
		opts = append(opts, jwt.WithIssuer(v.issuer))
	}
	if v.audience != "" {
		opts = append(opts, jwt.WithAudience(v.audience))
	}
	return opts
}

func isClaimError(err error) bool {
	for _, target := range []error{
		jwt.ErrTokenExpired(), jwt.ErrTokenNotYetValid(), jwt.ErrInvalidIssuedAt(),
		jwt.ErrInvalidIssuer(), jwt.ErrInvalidAudience(), jwt.ErrRequiredClaim(),
	} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// claimCheck is one claim validation and the words for its failure.
type claimCheck struct {
	opt    jwt.ValidateOption
	reason func(jwt.Token) string
}

// claimProblems runs each claim check on its own and describes the ones
// that fail.
func (v verification) claimProblems(tok jwt.Token) []string {
	now := v.now()
	checks := []claimCheck{
		{jwt.WithRequiredClaim(jwt.ExpirationKey), func(jwt.Token) string {
			return "the token has no exp claim, so it would never expire"
		}},
		{jwt.WithValidator(jwt.IsExpirationValid()), func(t jwt.Token) string {
			return fmt.Sprintf("expired %s ago (exp %s)", ago(now, t.Expiration()), stamp(t.Expiration()))
		}},
		{jwt.WithValidator(jwt.IsNbfValid()), func(t jwt.Token) string {
			return fmt.Sprintf("not valid yet: nbf is %s, %s from now; is this machine's clock behind jwt-up's?",
				stamp(t.NotBefore()), ago(t.NotBefore(), now))
		}},
		{jwt.WithValidator(jwt.IsIssuedAtValid()), func(t jwt.Token) string {
			return fmt.Sprintf("issued in the future: iat is %s, %s from now; is this machine's clock behind jwt-up's?",
				stamp(t.IssuedAt()), ago(t.IssuedAt(), now))
		}},
	}
	if v.issuer != "" {
		checks = append(checks, claimCheck{jwt.WithIssuer(v.issuer), func(t jwt.Token) string {
			return fmt.Sprintf("wrong issuer: the token has %q, expected %q", t.Issuer(), v.issuer)
		}})
	}
	if v.audience != "" {
		checks = append(checks, claimCheck{jwt.WithAudience(v.audience), func(t jwt.Token) string {
			return fmt.Sprintf("wrong audience: the token is for %s, expected %q", quoteAll(t.Audience()), v.audience)
		}})
	}

	var out []string
	for _, c := range checks {
		err := jwt.Validate(tok, jwt.WithResetValidators(true), jwt.WithClock(v.clock()), c.opt)
		if err != nil {
			out = append(out, c.reason(tok))
		}
	}
	return out
}

// checked names what a valid token was checked for, and what not.
func (v verification) checked() (done, skipped []string) {
	done = []string{"signature (keys from " + v.keysFrom + ")", "exp", "nbf", "iat"}
	if v.issuer != "" {
		done = append(done, fmt.Sprintf("iss %q", v.issuer))
	} else {
		skipped = append(skipped, "iss (give --issuer)")
	}
	if v.audience != "" {
		done = append(done, fmt.Sprintf("aud %q", v.audience))
	} else {
		skipped = append(skipped, "aud (give --audience)")
	}
	return done, skipped
}

// ago is how long before now t was, to the second.
func ago(now, t time.Time) time.Duration {
	return now.Sub(t).Round(time.Second)
}

func quoteAll(ss []string) string {
	if len(ss) == 0 {
		return "no audience"
	}
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}
