package api

import (
	"bytes"
	"encoding/json"

	"github.com/jwt-up/jwt-up/service"
)

// decodePlainMint decodes a mint request written the way gateways write
// one, in a single pass over the bytes: the field names exactly as the API
// documents them, each once; strings without escapes; groups and scopes as
// arrays of strings; claims whose values are strings, numbers, literals or
// arrays of those. For such a body it checks everything decodeJSON's
// general path checks (the JSON syntax, unknown fields, names given twice,
// trailing data) and fills r exactly as encoding/json would. data must be
// valid UTF-8.
//
// It reports false for any other body, leaving r in any state: the
// general path then decodes it and words any fault. A false answer never
// means the body is bad, only that it is not plain. FuzzPlainMint holds
// the two paths to the same result.
//
// A cache hit costs little beyond decoding its request, and this costs a
// fraction of a general decoder.
func decodePlainMint(data []byte, r *service.MintRequest) bool {
	p := plainParser{data: data}
	var seen uint16
	ok := p.object(func(name []byte) bool {
		field := topField(name)
		if field < 0 || seen&(1<<field) != 0 {
			return false // unknown, differently cased or given twice
		}
		seen |= 1 << field
		return p.topValue(field, r)
	})
	return ok && p.end()
}

// The top-level fields of a mint request, as bit positions.
const (
	fieldConsumer = iota
	fieldGroups
	fieldScopes
	fieldCredential
	fieldUserID
	fieldAudience
	fieldClaims
	fieldSubjectToken
	fieldRequest
)

// topField returns the field a plain name stands for, or -1.
func topField(name []byte) int {
	switch string(name) { // compared without a copy
	case "consumer":
		return fieldConsumer
	case "groups":
		return fieldGroups
	case "scopes":
		return fieldScopes
	case "credential":
		return fieldCredential
	case "authenticated_userid":
		return fieldUserID
	case "audience":
		return fieldAudience
	case "claims":
		return fieldClaims
	case "subject_token":
		return fieldSubjectToken
	case "request":
		return fieldRequest
	}
	return -1
}

// plainParser reads a body from data[i:].
type plainParser struct {
	data []byte
	i    int
}

// topValue reads the value of a top-level field into r.
func (p *plainParser) topValue(field int, r *service.MintRequest) bool {
	switch field {
	case fieldConsumer:
		c := &r.Consumer
		return p.stringFields([3]string{"id", "username", "custom_id"}, [3]*string{&c.ID, &c.Username, &c.CustomID})
	case fieldGroups:
		return p.stringArray(&r.Groups)
	case fieldScopes:
		return p.stringArray(&r.Scopes)
	case fieldCredential:
		c := &service.Credential{}
		r.Credential = c
		return p.stringFields([3]string{"id", "identifier"}, [3]*string{&c.ID, &c.Identifier})
	case fieldUserID:
		return p.stringValue(&r.AuthenticatedUserID)
	case fieldAudience:
		return p.stringValue(&r.Audience)
	case fieldClaims:
		return p.claims(r)
	case fieldSubjectToken:
		return p.stringValue(&r.SubjectToken)
	case fieldRequest:
		b := &service.BoundRequest{}
		r.Request = b
		return p.stringFields([3]string{"method", "path", "body_sha256"}, [3]*string{&b.Method, &b.Path, &b.BodySHA256})
	}
	return false
}

// stringFields reads an object whose members are among names, each once,
// with string values, storing each value through the pointer at the same
// place in dst. An empty name ends the list.
func (p *plainParser) stringFields(names [3]string, dst [3]*string) bool {
	var seen uint8
	return p.object(func(name []byte) bool {
		for k, n := range names {
			if n != "" && string(name) == n {
				if seen&(1<<k) != 0 {
					return false
				}
				seen |= 1 << k
				return p.stringValue(dst[k])
			}
		}
		return false
	})
}

// stringArray reads an array of strings into *dst, which is nil: empty, it
// becomes an empty slice, as encoding/json makes it.
func (p *plainParser) stringArray(dst *[]string) bool {
	if !p.take('[') {
		return false
	}
	// One allocation for a list of an allowed length: its commas, counted
	// up to its end, are a good guess at its length.
	end := bytes.IndexByte(p.data[p.i:], ']')
	if end < 0 {
		return false
	}
	guess := bytes.Count(p.data[p.i:p.i+end], []byte{','}) + 1
	list := make([]string, 0, min(guess, max(service.MaxGroups, service.MaxScopes)+1))
	p.space()
	if p.take(']') {
		*dst = list
		return true
	}
	for {
		s, ok := p.plainString()
		if !ok {
			return false
		}
		list = append(list, string(s))
		p.space()
		if p.take(']') {
			*dst = list
			return true
		}
		if !p.take(',') {
			return false
		}
		p.space()
	}
}

// claims reads the claims object. Its names are compared without regard to
// ASCII case, as decodeJSON's check for names given twice compares them;
// a name with any other character leaves the body to the general path.
func (p *plainParser) claims(r *service.MintRequest) bool {
	var (
		names [service.MaxClaims][]byte
		n     int
	)
	claims := map[string]json.RawMessage{}
	r.Claims = claims
	return p.object(func(name []byte) bool {
		if n == len(names) || !plainASCII(name) {
			return false
		}
		for _, seen := range names[:n] {
			if bytes.EqualFold(seen, name) {
				return false
			}
		}
		names[n] = name
		n++
		start := p.i
		if !p.value(0) {
			return false
		}
		claims[string(name)] = p.data[start:p.i]
		return true
	})
}

// maxPlainDepth is how deep arrays may nest in a claim value decoded here;
// the service refuses deeper values than this anyway.
const maxPlainDepth = service.MaxClaimDepth + 1

// value checks the JSON value at p.i and moves past it: a string (escapes
// allowed), a number, true, false, null, or an array of those. An object
// is left to the general path, which checks its names.
func (p *plainParser) value(depth int) bool {
	if p.i == len(p.data) {
		return false
	}
	switch c := p.data[p.i]; {
	case c == '"':
		return p.jsonString()
	case c == '-' || '0' <= c && c <= '9':
		return p.number()
	case c == 't':
		return p.literal("true")
	case c == 'f':
		return p.literal("false")
	case c == 'n':
		return p.literal("null")
	case c == '[' && depth < maxPlainDepth:
		p.i++
		p.space()
		if p.take(']') {
			return true
		}
		for {
			if !p.value(depth + 1) {
				return false
			}
			p.space()
			if p.take(']') {
				return true
			}
			if !p.take(',') {
				return false
			}
			p.space()
		}
	}
	return false
}

// object reads an object, calling member with each name (the text between
// its quotes, which has no escape) once p.i is at its value. member reads
// the value and reports whether to go on.
func (p *plainParser) object(member func(name []byte) bool) bool {
	p.space()
	if !p.take('{') {
		return false
	}
	p.space()
	if p.take('}') {
		return true
	}
	for {
		name, ok := p.plainString()
		if !ok {
			return false
		}
		p.space()
		if !p.take(':') {
			return false
		}
		p.space()
		if !member(name) {
			return false
		}
		p.space()
		if p.take('}') {
			return true
		}
		if !p.take(',') {
			return false
		}
		p.space()
	}
}

// stringValue reads a string without escapes into *dst.
func (p *plainParser) stringValue(dst *string) bool {
	s, ok := p.plainString()
	if ok {
		*dst = string(s)
	}
	return ok
}

// plainString reads a string that holds no escape and no control
// character, returning the text between its quotes.
func (p *plainParser) plainString() ([]byte, bool) {
	if !p.take('"') {
		return nil, false
	}
	start := p.i
	for ; p.i < len(p.data); p.i++ {
		switch c := p.data[p.i]; {
		case c == '"':
			s := p.data[start:p.i]
			p.i++
			return s, true
		case c == '\\' || c < 0x20:
			return nil, false
		}
	}
	return nil, false
}

// jsonString checks a string with any valid escapes and moves past it.
func (p *plainParser) jsonString() bool {
	p.i++ // the opening quote
	for p.i < len(p.data) {
		c := p.data[p.i]
		p.i++
		switch {
		case c == '"':
			return true
		case c < 0x20:
			return false
		case c == '\\':
			if p.i == len(p.data) {
				return false
			}
			e := p.data[p.i]
			p.i++
			switch e {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if p.i+4 > len(p.data) {
					return false
				}
				for _, h := range p.data[p.i : p.i+4] {
					if !isHex(h) {
						return false
					}
				}
				p.i += 4
			default:
				return false
			}
		}
	}
	return false
}

// number checks a JSON number and moves past it.
func (p *plainParser) number() bool {
	p.take('-')
	switch {
	case p.take('0'):
	case p.digits() == 0:
		return false
	}
	if p.take('.') && p.digits() == 0 {
		return false
	}
	if p.take('e') || p.take('E') {
		if !p.take('+') {
			p.take('-')
		}
		if p.digits() == 0 {
			return false
		}
	}
	return true
}

// digits moves past decimal digits, returning how many.
func (p *plainParser) digits() int {
	start := p.i
	for p.i < len(p.data) && '0' <= p.data[p.i] && p.data[p.i] <= '9' {
		p.i++
	}
	return p.i - start
}

// literal moves past word, reporting whether it is there.
func (p *plainParser) literal(word string) bool {
	if !bytes.HasPrefix(p.data[p.i:], []byte(word)) {
		return false
	}
	p.i += len(word)
	return true
}

// take moves past c if it is next.
func (p *plainParser) take(c byte) bool {
	if p.i < len(p.data) && p.data[p.i] == c {
		p.i++
		return true
	}
	return false
}

// space moves past JSON white space.
func (p *plainParser) space() {
	for p.i < len(p.data) {
		switch p.data[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// end reports whether nothing but white space is left.
func (p *plainParser) end() bool {
	p.space()
	return p.i == len(p.data)
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
