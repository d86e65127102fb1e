package storetest

import (
	"os"
	"testing"
)

// RequireServicesEnv names the variable that, set to 1, turns a missing
// service URL from a skip into a failure, so that CI cannot pass by
// skipping the backends it was meant to test.
const RequireServicesEnv = "JWTUP_TEST_REQUIRE_SERVICES"

// DatabaseURL returns the PostgreSQL URL in JWTUP_TEST_DATABASE_URL. When
// that is unset it skips the test, or fails it if RequireServicesEnv is 1.
func DatabaseURL(t testing.TB) string {
	t.Helper()
	return serviceURL(t, "JWTUP_TEST_DATABASE_URL", "PostgreSQL")
}

// RedisURL returns the Redis URL in JWTUP_TEST_REDIS_URL. When that is
// unset it skips the test, or fails it if RequireServicesEnv is 1.
func RedisURL(t testing.TB) string {
	t.Helper()
	return serviceURL(t, "JWTUP_TEST_REDIS_URL", "Redis")
}

// serviceURL returns the value of env, or skips or fails the test when it
// is unset.
func serviceURL(t testing.TB, env, service string) string {
	t.Helper()
	if u := os.Getenv(env); u != "" {
		return u
	}
	if os.Getenv(RequireServicesEnv) == "1" {
		t.Fatalf("%s is not set, but %s=1 requires the %s tests to run",
			env, RequireServicesEnv, service)
	}
	t.Skipf("%s is not set; skipping %s tests", env, service)
	return ""
}
