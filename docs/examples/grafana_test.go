package examples_test

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/jwt-up/jwt-up/docs/examples/internal/jwtuptest"
)

// dashboard is the part of a Grafana dashboard the test reads.
type dashboard struct {
	Title      string `json:"title"`
	UID        string `json:"uid"`
	Templating struct {
		List []variable `json:"list"`
	} `json:"templating"`
	Panels []struct {
		ID         int        `json:"id"`
		Type       string     `json:"type"`
		Title      string     `json:"title"`
		Datasource datasource `json:"datasource"`
		GridPos    struct {
			H, W, X, Y int
		} `json:"gridPos"`
		Targets []struct {
			RefID      string     `json:"refId"`
			Expr       string     `json:"expr"`
			Datasource datasource `json:"datasource"`
		} `json:"targets"`
	} `json:"panels"`
}

// variable is a template variable.
type variable struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Query any    `json:"query"`
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// scrapeLabels are added by Prometheus when it scrapes, so /metrics
// never shows them.
var scrapeLabels = []string{"job", "instance"}

var (
	metricRef   = regexp.MustCompile(`\b(jwtup_[a-z0-9_]+)\s*(\{[^}]*\})?`)
	labelName   = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)`)
	groupLabels = regexp.MustCompile(`\b(?:by|without)\s*\(([^)]*)\)`)
)

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	data, err := os.ReadFile("../grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("docs/grafana-dashboard.json is not valid JSON: %v", err)
	}
	return d
}

// TestGrafanaDashboard checks the dashboard's shape: a datasource
// variable, and panels that use it, with unique ids and a query each.
func TestGrafanaDashboard(t *testing.T) {
	d := loadDashboard(t)
	if d.Title == "" || d.UID == "" {
		t.Errorf("got title %q uid %q, want both set", d.Title, d.UID)
	}
	hasDatasource := slices.ContainsFunc(d.Templating.List, func(v variable) bool {
		return v.Name == "datasource" && v.Type == "datasource" && v.Query == "prometheus"
	})
	if !hasDatasource {
		t.Error("no template variable datasource of type datasource for prometheus")
	}
	if len(d.Panels) == 0 {
		t.Fatal("the dashboard has no panels")
	}

	ids := map[int]bool{}
	for _, p := range d.Panels {
		if p.Title == "" || p.Type == "" {
			t.Errorf("panel %d has title %q type %q, want both", p.ID, p.Title, p.Type)
		}
		if ids[p.ID] {
			t.Errorf("panel id %d is used twice", p.ID)
		}
		ids[p.ID] = true
		if p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q has gridPos %+v, want it inside the 24 columns", p.Title, p.GridPos)
		}
		if p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q uses datasource %q, want ${datasource}", p.Title, p.Datasource.UID)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			if strings.TrimSpace(q.Expr) == "" || q.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q query %s: expr %q datasource %q, want an expr on ${datasource}",
					p.Title, q.RefID, q.Expr, q.Datasource.UID)
			}
			if !balanced(q.Expr) {
				t.Errorf("panel %q query %s has unbalanced brackets: %s", p.Title, q.RefID, q.Expr)
			}
		}
	}
}

// balanced reports whether the brackets of a query pair up, outside
// quoted strings.
func balanced(expr string) bool {
	var stack []rune
	pairs := map[rune]rune{')': '(', ']': '[', '}': '{'}
	quoted := false
	for _, r := range expr {
		switch {
		case r == '"':
			quoted = !quoted
		case quoted:
		case r == '(' || r == '[' || r == '{':
			stack = append(stack, r)
		case pairs[r] != 0:
			if len(stack) == 0 || stack[len(stack)-1] != pairs[r] {
				return false
			}
			stack = stack[:len(stack)-1]
		}
	}
	return len(stack) == 0 && !quoted
}

// TestGrafanaDashboardMetrics checks each query against what a live
// jwt-up exports after one mint: every metric it names exists, with every
// label it matches or groups by, and every jwtup_ metric has a panel.
// With JWTUP_TEST_REDIS_URL set, the server uses that Redis, so the
// shared-cache metric is there too; without, that metric is not checked.
func TestGrafanaDashboardMetrics(t *testing.T) {
	d := loadDashboard(t)
	var env []string
	redisURL := os.Getenv("JWTUP_TEST_REDIS_URL")
	if redisURL != "" {
		env = append(env, "JWTUP_REDIS_URL="+redisURL)
	}
	s := jwtuptest.Start(t, "ES256", env...)
	s.Mint(t, "4e1c", "orders-api")
	series := parseMetrics(string(s.Get(t, "/metrics")))

	used := map[string]bool{}
	for _, p := range d.Panels {
		for _, q := range p.Targets {
			for _, m := range checkQuery(t, p.Title, q.Expr, series, redisURL != "") {
				used[m] = true
			}
		}
	}
	for name := range series {
		family := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
		if strings.HasPrefix(name, "jwtup_") && !used[name] && !used[family+"_bucket"] {
			t.Errorf("jwt-up exports %s, but no panel shows it", name)
		}
	}
}

// checkQuery checks that every metric expr names is in series with the
// labels expr uses, and returns the metric names.
func checkQuery(t *testing.T, title, expr string, series map[string]map[string]bool, redis bool) []string {
	t.Helper()
	var names []string
	for _, ref := range metricRef.FindAllStringSubmatch(expr, -1) {
		name, matchers := ref[1], ref[2]
		names = append(names, name)
		labels, ok := series[name]
		if !ok {
			if name == "jwtup_shared_cache_failures_total" && !redis {
				t.Logf("panel %q: %s is only exported with Redis; not checked without JWTUP_TEST_REDIS_URL", title, name)
				continue
			}
			t.Errorf("panel %q names %s, which jwt-up does not export; it exports %s", title, name, exported(series))
			continue
		}
		for _, l := range labelName.FindAllStringSubmatch(matchers, -1) {
			if !labels[l[1]] && !slices.Contains(scrapeLabels, l[1]) {
				t.Errorf("panel %q matches label %s of %s, which has only %v", title, l[1], name, keys(labels))
			}
		}
	}
	for _, g := range groupLabels.FindAllStringSubmatch(expr, -1) {
		for _, l := range strings.Split(g[1], ",") {
			l = strings.TrimSpace(l)
			if l == "" || slices.Contains(scrapeLabels, l) {
				continue
			}
			found := slices.ContainsFunc(names, func(n string) bool { return series[n][l] })
			if !found {
				t.Errorf("panel %q groups by %s, which none of %v carries", title, l, names)
			}
		}
	}
	return names
}

// parseMetrics reads the Prometheus text format into the label names
// seen per series name.
func parseMetrics(text string) map[string]map[string]bool {
	series := map[string]map[string]bool{}
	for _, line := range strings.Split(text, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		end := strings.IndexAny(line, "{ ")
		if end < 0 {
			continue
		}
		name := line[:end]
		if series[name] == nil {
			series[name] = map[string]bool{}
		}
		if line[end] == '{' {
			labels := line[end:strings.LastIndex(line, "}")]
			for _, l := range labelName.FindAllStringSubmatch(labels, -1) {
				series[name][l[1]] = true
			}
		}
	}
	return series
}

func exported(series map[string]map[string]bool) []string {
	var out []string
	for name := range series {
		if strings.HasPrefix(name, "jwtup_") {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
