package main

import (
	"maps"
	"slices"
	"strconv"
	"sync/atomic"
)

// route is the endpoint a scenario sends its requests to.
type route int

const (
	routeTokens  route = iota // POST /v1/tokens
	routeAuth                 // GET /v1/auth
	routeJWKS                 // GET /.well-known/jwks.json
	routeJWKS304              // the same, with a matching If-None-Match
)

// scenario is one kind of traffic, measured against jwt-up and a ceiling.
type scenario struct {
	name  string
	about string // one line for the report
	alg   string // JWTUP_SIGNING_ALG, and the sign ceiling's algorithm
	route route

	// consumers is how many consumers the requests are spread over: 1 is
	// always the same one, more are picked by Zipf, and 0 means a new one
	// on every request.
	consumers int

	// fill mints a token for consumers 0 … fill-1 before the rounds, so
	// that the rounds measure hits and not the first signing.
	fill int

	sign  bool              // compare with the sign ceiling, and also the constant one
	redis bool              // needs --redis; JWTUP_REDIS_URL is set to it
	env   map[string]string // further jwt-up settings
	paced bool              // also measure latency at half the ceiling's rate

	// target is issue 5's least jwt-up/ceiling ratio, and constTarget the
	// least ratio to the constant ceiling for the sign scenarios; 0: none.
	target      float64
	constTarget float64
}

// scenarios lists every scenario, in the order of the report.
var scenarios = []scenario{
	{
		name: "hit", about: "one consumer, POST /v1/tokens, in-process cache",
		alg: "RS256", route: routeTokens, consumers: 1, paced: true, target: 0.90,
	},
	{
		name: "hit-spread", about: "100 000 consumers (Zipf), in-process cache with room for all",
		alg: "ES256", route: routeTokens, consumers: 100_000, fill: 100_000,
		env: cacheSize(200_000),
	},
	{
		name: "hit-spread-redis", about: "100 000 consumers (Zipf), Redis behind an in-process cache of 10 000",
		alg: "RS256", route: routeTokens, consumers: 100_000, fill: 100_000, redis: true,
		env: cacheSize(10_000), target: 0.85,
	},
	{
		name: "hit-spread-1k", about: "1 000 consumers (Zipf), in-process cache",
		alg: "ES256", route: routeTokens, consumers: 1_000, fill: 1_000,
		env: cacheSize(2_000),
	},
	{
		name: "hit-spread-1m", about: "1 000 000 consumers (Zipf), in-process cache with room for all",
		alg: "ES256", route: routeTokens, consumers: 1_000_000, fill: 1_000_000,
		env: cacheSize(2_000_000),
	},
	{
		name: "hit-redis", about: "one consumer, Redis only (JWTUP_CACHE_SIZE=0)",
		alg: "RS256", route: routeTokens, consumers: 1, redis: true,
		env: cacheSize(0), target: 0.50,
	},
	missScenario("RS256", 0),
	missScenario("PS256", 0),
	missScenario("ES256", 0.40),
	missScenario("ES384", 0),
	missScenario("EdDSA", 0.45),
	{
		name: "auth", about: "one consumer, GET /v1/auth with Kong's headers",
		alg: "RS256", route: routeAuth, consumers: 1, target: 0.90,
	},
	{
		name: "jwks", about: "GET /.well-known/jwks.json",
		alg: "RS256", route: routeJWKS, consumers: 1,
	},
	{
		name: "jwks-304", about: "GET /.well-known/jwks.json with a matching If-None-Match",
		alg: "RS256", route: routeJWKS304, consumers: 1,
	},
}

// missScenario signs on every request: a new consumer each time.
func missScenario(alg string, constTarget float64) scenario {
	return scenario{
		name: "miss-" + alg, about: "a new consumer on every request, " + alg,
		alg: alg, route: routeTokens, consumers: 0, sign: true,
		target: 0.85, constTarget: constTarget,
	}
}

func cacheSize(n int) map[string]string {
	return map[string]string{"JWTUP_CACHE_SIZE": strconv.Itoa(n)}
}

// scenarioNames lists the names of every scenario, in table order.
func scenarioNames() []string {
	names := make([]string, len(scenarios))
	for i, sc := range scenarios {
		names[i] = sc.name
	}
	return names
}

// findScenario returns the scenario called name.
func findScenario(name string) (scenario, bool) {
	for _, sc := range scenarios {
		if sc.name == name {
			return sc, true
		}
	}
	return scenario{}, false
}

// buildRequest is the scenario's request, built for one server.
func (sc scenario) buildRequest(host, key, etag string) request {
	switch sc.route {
	case routeAuth:
		return authRequest(host, key)
	case routeJWKS:
		return jwksRequest(host, "")
	case routeJWKS304:
		return jwksRequest(host, etag)
	}
	return tokensRequest(host, key)
}

// ids returns the id sources of one run. Runs of the same pair get the
// same seed, so jwt-up and its ceiling see the same consumers in the same
// order; fresh counts a new consumer per request across every run of the
// scenario, so a miss stays a miss.
func (sc scenario) ids(seed uint64, fresh *atomic.Uint64) func(conn int) idSource {
	switch {
	case sc.consumers == 0:
		return func(int) idSource { return countingConsumers{n: fresh, limit: sampleID} }
	case sc.consumers > 1:
		return func(conn int) idSource {
			return newZipfConsumers(uint64(sc.consumers), seed<<16|uint64(conn))
		}
	}
	return func(int) idSource { return oneConsumer{} }
}

// sortedKeys returns the keys of m in order.
func sortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}
