package service

// Limits on what one mint request may carry, whether it comes as the JSON
// body of POST /v1/tokens or as the consumer headers of /v1/auth. A request
// over a limit is refused with ErrInvalidRequest and a detail that names
// the limit. They exist so that no input, however odd, makes a token that
// upstreams choke on or costs the service more than a normal request: the
// 64 KiB body limit alone would still let one request carry thousands of
// claims or nest a claim thousands of levels deep.
//
// docs/api.md lists the same numbers under "Limits"; change both together.
const (
	// MaxTextLength is the most bytes of consumer.id, consumer.username,
	// consumer.custom_id, credential.id, credential.identifier,
	// authenticated_userid and audience, and of the /v1/auth header each
	// comes from. Gateways' identifiers are UUIDs, user names and e-mail
	// addresses, far shorter; every one of these lands in every token and
	// in the cache key, so a longer one is a mistake or an attack.
	MaxTextLength = 256

	// MaxGroups is the most entries of groups. Tokens travel in an
	// Authorization header on every upstream call, and proxies commonly
	// refuse headers of 8 KiB or more; 64 groups of a normal length stay
	// well below that.
	MaxGroups = 64

	// MaxScopes is the most entries of scopes, for the same reason as
	// MaxGroups.
	MaxScopes = 64

	// MaxEntryLength is the most bytes of one group or one scope.
	MaxEntryLength = 128

	// MaxClaims is the most custom claims of one request. Custom claims are
	// for a few facts an upstream needs (a tenant, a plan), not a document.
	MaxClaims = 32

	// MaxClaimNameLength is the most bytes of a custom claim's name.
	MaxClaimNameLength = 128

	// MaxClaimValueSize is the most bytes of one custom claim's value once
	// compacted (white space outside strings removed), which is what the
	// token carries.
	MaxClaimValueSize = 4 << 10

	// MaxClaimDepth is how deep arrays and objects may nest inside one
	// custom claim's value: a string or number is depth 0, {"a":1} is 1,
	// {"a":[1]} is 2. encoding/json accepts up to 10000 levels, and deep
	// nesting is a known way to exhaust the stack or patience of the JSON
	// parsers upstreams verify tokens with.
	MaxClaimDepth = 8

	// MaxPathLength is the most bytes of a bound request's path with its
	// query: what common servers accept in a request line.
	MaxPathLength = 8 << 10
)
