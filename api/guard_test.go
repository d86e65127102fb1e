package api

import (
	"net/netip"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestAuthGuardBounded: failures from ever new sources must not grow the
// guard past its bound.
func TestAuthGuardBounded(t *testing.T) {
	const bound = 100
	g := newAuthGuard(AuthLimit{Failures: 3, Window: time.Hour, Sources: bound}, nil, prometheus.NewRegistry())
	base := netip.MustParseAddr("10.0.0.0").As4()
	for i := range 20_000 {
		a := base
		a[2], a[3] = byte(i>>8), byte(i)
		g.fail("gateway", netip.PrefixFrom(netip.AddrFrom4(a), 32))
	}
	g.windows.CleanUp()
	if n := g.windows.EstimatedSize(); n > bound {
		t.Errorf("guard tracks %d sources, want at most %d", n, bound)
	}
}
