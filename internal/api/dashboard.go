package api

import (
	"embed"
	"io/fs"
	"net/http"
)

// The dashboard is plain HTML, CSS and JavaScript embedded in the binary: nothing to build,
// nothing fetched from elsewhere. It renders /api/events (or /api/rawdata when the browser
// cannot stream) with textContent only, so a label value can never become markup.
//
//go:embed dashboard
var dashboardFiles embed.FS

// dashboardCSP allows the dashboard's own files and nothing else: no inline script, no other
// origin, no framing.
const dashboardCSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
	"img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

func (s *Server) dashboardRoutes(mux *http.ServeMux) {
	sub, err := fs.Sub(dashboardFiles, "dashboard")
	if err != nil {
		panic(err) // the embedded tree is part of the binary
	}
	files := http.StripPrefix("/dashboard/", http.FileServerFS(sub))
	mux.Handle("GET /dashboard/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", dashboardCSP)
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	}))
	toDashboard := func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/dashboard/", http.StatusFound)
	}
	mux.HandleFunc("GET /dashboard", toDashboard)
	mux.HandleFunc("GET /{$}", toDashboard)
}
