package entrypoints

import (
	"net"
	"net/http"
	"strings"
)

// Redirect sends every request to the same host and path on another scheme and port:
// the entrypoint-level http -> https redirection.
type Redirect struct {
	Scheme    string // default "https"
	Port      string // "" or the scheme's default port: no port in the URL
	Permanent bool
}

func (rd *Redirect) serve(w http.ResponseWriter, r *http.Request) {
	scheme := rd.Scheme
	if scheme == "" {
		scheme = "https"
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if strings.IndexByte(host, ':') >= 0 {
		host = "[" + host + "]" // IPv6 literal
	}
	if rd.Port != "" && !(scheme == "https" && rd.Port == "443") && !(scheme == "http" && rd.Port == "80") {
		host += ":" + rd.Port
	}
	target := scheme + "://" + host + r.URL.RequestURI()
	w.Header().Set("Location", target)
	w.WriteHeader(redirectStatus(r.Method, rd.Permanent))
}

// redirectStatus keeps the method for anything but GET and HEAD (307/308), since a browser
// turns a POST into a GET on 301/302.
func redirectStatus(method string, permanent bool) int {
	get := method == http.MethodGet || method == http.MethodHead
	switch {
	case permanent && get:
		return http.StatusMovedPermanently
	case permanent:
		return http.StatusPermanentRedirect
	case get:
		return http.StatusFound
	}
	return http.StatusTemporaryRedirect
}
