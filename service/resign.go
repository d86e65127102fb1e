package service

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"
)

// exchange is what a verified subject token adds to a mint.
type exchange struct {
	identity  string                     // digest of the subject token, for the cache key
	expiresAt time.Time                  // the new token expires no later
	act       json.RawMessage            // the actor claim, or nil
	carried   map[string]json.RawMessage // claims moved into the new token
}

// exchange verifies r's subject token and returns what it adds to the
// token. A request without a consumer gets the subject token's subject as
// its consumer id.
func (m *Minter) exchange(ctx context.Context, p *profile, r *MintRequest) (*exchange, error) {
	ref := m.verifier.Load()
	if ref == nil {
		return nil, fmt.Errorf("%w: no trusted issuer is configured, so subject_token cannot be used", ErrSubjectToken)
	}
	vt, err := ref.v.Verify(ctx, r.SubjectToken)
	m.metrics.subjectChecked(err)
	if err != nil {
		return nil, err
	}
	if r.Consumer.Subject() == "" {
		r.Consumer = Consumer{ID: vt.Subject}
	}

	carried := map[string]json.RawMessage{}
	for name, value := range vt.Carried {
		if p.reserved(name) {
			continue // a carried claim never overrides one jwt-up sets
		}
		for custom := range r.Claims {
			if equalFold(custom, name) {
				return nil, fmt.Errorf("%w: %q comes from the subject token and cannot be set by the request",
					ErrReservedClaim, custom)
			}
		}
		carried[name] = value
	}
	return &exchange{
		identity:  vt.Identity,
		expiresAt: vt.ExpiresAt,
		act:       actClaim(r.Consumer.Subject(), vt),
		carried:   carried,
	}, nil
}

// appendInputs encodes what the subject token adds to a token, for the
// cache key: its identity, and what the verifier made of it, which a
// reload of the trusted issuers may change.
func (ex *exchange) appendInputs(b []byte) []byte {
	b = appendField(b, ex.identity)
	b = appendField(b, ex.act)
	b = binary.AppendUvarint(b, uint64(len(ex.carried)))
	for _, name := range sortedNames(ex.carried) {
		b = appendField(b, name)
		b = appendField(b, ex.carried[name])
	}
	return b
}

// actClaim is the act claim (RFC 8693) of a token re-signed for sub from
// vt. When sub is not the subject token's own sub, act records that
// subject and its issuer, with the subject token's own act inside it;
// otherwise the subject token's act, if any, passes on unchanged.
func actClaim(sub string, vt VerifiedToken) json.RawMessage {
	if vt.OriginalSubject == "" || vt.OriginalSubject == sub {
		return vt.Actor
	}
	act := struct {
		Sub string          `json:"sub"`
		Iss string          `json:"iss"`
		Act json.RawMessage `json:"act,omitempty"`
	}{vt.OriginalSubject, vt.Issuer, vt.Actor}
	b, _ := json.Marshal(act) // strings and a compacted raw value always encode
	return b
}
