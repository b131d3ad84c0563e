package tls

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/caddyserver/certmagic"
	"github.com/libdns/cloudflare"
)

// DNSProviderFunc makes a libdns provider for DNS-01 from the environment (getenv is
// os.Getenv, with *_FILE variables already resolved). Credentials come from the environment,
// as with Traefik, so they never sit in a configuration file or a container label.
type DNSProviderFunc func(getenv func(string) string) (certmagic.DNSProvider, error)

// dnsProviders is the table of DNS providers by the name written in
// dnsChallenge.provider. Adding one is one line here plus its constructor.
var dnsProviders = map[string]DNSProviderFunc{
	"cloudflare": newCloudflare,
}

// DNSProviderNames lists the DNS providers wharf knows, sorted.
func DNSProviderNames() []string {
	names := make([]string, 0, len(dnsProviders))
	for n := range dnsProviders {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func newDNSProvider(name string, table map[string]DNSProviderFunc) (certmagic.DNSProvider, error) {
	f, ok := table[strings.ToLower(name)]
	if !ok {
		known := make([]string, 0, len(table))
		for n := range table {
			known = append(known, n)
		}
		slices.Sort(known)
		return nil, fmt.Errorf("unknown DNS provider %q (known: %s)", name, strings.Join(known, ", "))
	}
	return f(getenvFile)
}

// getenvFile reads NAME, or the file named by NAME_FILE (Docker secrets).
func getenvFile(name string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	if f := os.Getenv(name + "_FILE"); f != "" {
		if b, err := os.ReadFile(f); err == nil {
			return strings.TrimSpace(string(b))
		}
	}
	return ""
}

// firstEnv returns the first non-empty variable of names.
func firstEnv(getenv func(string) string, names ...string) string {
	for _, n := range names {
		if v := getenv(n); v != "" {
			return v
		}
	}
	return ""
}

// newCloudflare reads the variable names Traefik (lego) documents, so an existing compose
// file works unchanged. Only API tokens are supported: the global API key is a credential
// for the whole account and libdns does not accept it.
func newCloudflare(getenv func(string) string) (certmagic.DNSProvider, error) {
	token := firstEnv(getenv, "CF_DNS_API_TOKEN", "CLOUDFLARE_DNS_API_TOKEN")
	if token == "" {
		if firstEnv(getenv, "CF_API_KEY", "CLOUDFLARE_API_KEY") != "" {
			return nil, fmt.Errorf("cloudflare: a global API key (CF_API_KEY) is not supported; create an API token with Zone.DNS:Edit and set CF_DNS_API_TOKEN")
		}
		return nil, fmt.Errorf("cloudflare: set CF_DNS_API_TOKEN (or CF_DNS_API_TOKEN_FILE) to an API token with Zone.DNS:Edit")
	}
	return &cloudflare.Provider{
		APIToken:  token,
		ZoneToken: firstEnv(getenv, "CF_ZONE_API_TOKEN", "CLOUDFLARE_ZONE_API_TOKEN"),
	}, nil
}
