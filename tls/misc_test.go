package tls

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/libdns/cloudflare"
	"github.com/mholt/acmez/v3/acme"
	"github.com/rs/zerolog"
	"go.uber.org/zap"
)

func TestCloudflareProviderFromEnvironment(t *testing.T) {
	env := func(vars map[string]string) func(string) string {
		return func(k string) string { return vars[k] }
	}
	p, err := newCloudflare(env(map[string]string{"CF_DNS_API_TOKEN": "tok", "CF_ZONE_API_TOKEN": "zone"}))
	if err != nil {
		t.Fatal(err)
	}
	if cf := p.(*cloudflare.Provider); cf.APIToken != "tok" || cf.ZoneToken != "zone" {
		t.Fatalf("provider = %+v", cf)
	}
	if _, err := newCloudflare(env(nil)); err == nil || !strings.Contains(err.Error(), "CF_DNS_API_TOKEN") {
		t.Fatalf("no token: %v; want an error naming CF_DNS_API_TOKEN", err)
	}
	if _, err := newCloudflare(env(map[string]string{"CF_API_KEY": "global"})); err == nil || !strings.Contains(err.Error(), "global API key") {
		t.Fatalf("global key: %v", err)
	}
	if _, err := newDNSProvider("route66", dnsProviders); err == nil || !strings.Contains(err.Error(), "cloudflare") {
		t.Fatalf("unknown provider: %v; want the list of known ones", err)
	}
}

func TestResolverSettings(t *testing.T) {
	for in, want := range map[string]string{"": "https://acme-v02.api.letsencrypt.org/directory", "staging": "https://acme-staging-v02.api.letsencrypt.org/directory", "https://ca.internal/dir": "https://ca.internal/dir"} {
		if got, err := caURL(in); err != nil || got != want {
			t.Errorf("caURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := caURL("lets-encrypt"); err == nil {
		t.Error("caURL accepted a name that is neither known nor a URL")
	}
	for _, kt := range []string{"", "EC256", "ec384", "RSA2048", "RSA4096"} {
		if _, err := keyGenerator(kt); err != nil {
			t.Errorf("keyGenerator(%q): %v", kt, err)
		}
	}
	if _, err := keyGenerator("EC521"); err == nil {
		t.Error("keyGenerator accepted EC521")
	}
	if _, err := New(Config{Resolvers: []ResolverConfig{{Name: "x", Storage: t.TempDir(), Challenge: "dns-01"}}}); err == nil || !strings.Contains(err.Error(), `unknown challenge "dns-01"`) {
		t.Errorf("bad challenge: %v", err)
	}
	dir := t.TempDir()
	if _, err := New(Config{Resolvers: []ResolverConfig{{Name: "x", Storage: dir}, {Name: "x", Storage: dir}}}); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("duplicate resolver: %v", err)
	}
	if _, err := New(Config{Resolvers: []ResolverConfig{{Name: "a", Storage: dir}, {Name: "b", Storage: dir}}, OnDemand: &OnDemand{}}); err == nil || !strings.Contains(err.Error(), "name its resolver") {
		t.Errorf("ambiguous on-demand resolver: %v", err)
	}
}

func TestRetryAfterFromRateLimit(t *testing.T) {
	prob := acme.Problem{Type: acme.ProblemTypeRateLimited, Status: 429,
		Detail: "too many certificates (5) already issued for this exact set of identifiers in the last 168h0m0s, retry after 2031-01-08 16:46:15 UTC: see https://letsencrypt.org/docs/rate-limits/"}
	got, ok := retryAfter(fmt.Errorf("[app.example] Obtain: %w", prob))
	if want := time.Date(2031, 1, 8, 16, 46, 15, 0, time.UTC); !ok || !got.Equal(want) {
		t.Fatalf("retryAfter = %v, %v; want %v", got, ok, want)
	}
	if _, ok := retryAfter(acme.Problem{Type: acme.ProblemTypeServerInternal, Detail: "retry after 2031-01-08 16:46:15 UTC"}); ok {
		t.Fatal("a problem that is not a rate limit gated retries")
	}

	b := newStatusBook()
	b.failed("app.example", prob)
	m := &Manager{log: zerolog.Nop()}
	hook := b.onEvent("le", m)
	if err := hook(t.Context(), "cert_obtaining", map[string]any{"identifier": "app.example"}); err == nil || !strings.Contains(err.Error(), "2031-01-08T16:46:15Z") {
		t.Fatalf("cert_obtaining during a rate limit: %v; want it cancelled until the time the CA gave", err)
	}
	if err := hook(t.Context(), "cert_obtaining", map[string]any{"identifier": "other.example"}); err != nil {
		t.Fatalf("another name is not rate limited: %v", err)
	}
}

func TestZapBridge(t *testing.T) {
	var buf strings.Builder
	zl := newZapLogger(zerolog.New(&buf).Level(zerolog.WarnLevel))
	zl.Named("obtain").With(zap.String("identifier", "a.example")).Warn("could not get certificate", zap.Int("attempt", 2), zap.Error(fmt.Errorf("boom")))
	zl.Info("demoted to debug, so hidden at warn")
	var got map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(buf.String())), &got); err != nil {
		t.Fatalf("one JSON line expected, got %q: %v", buf.String(), err)
	}
	want := map[string]any{"level": "warn", "source": "certmagic", "logger": "obtain", "identifier": "a.example", "attempt": float64(2), "error": "boom", "message": "could not get certificate"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v; want %v (line %s)", k, got[k], v, buf.String())
		}
	}
}
