package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"time"
)

// StateDoc is everything the dashboard shows, in one document: /api/rawdata, and each message
// of /api/events.
type StateDoc struct {
	Version      Version       `json:"version"`
	Overview     Overview      `json:"overview"`
	EntryPoints  []EntryPoint  `json:"entryPoints"`
	Routers      []Router      `json:"routers"`
	Services     []Service     `json:"services"`
	Middlewares  []Middleware  `json:"middlewares"`
	Certificates []Certificate `json:"certificates"`
	Errors       []ConfigError `json:"errors"`
}

func (s *Server) state(now time.Time) StateDoc {
	v := s.view()
	return StateDoc{Version: s.opt.Version, Overview: v.Overview, EntryPoints: nonNilList(s.st.EntryPoints()),
		Routers: v.Routers, Services: v.Services, Middlewares: v.Middlewares, Certificates: s.certificates(now), Errors: v.Errors}
}

// eventsRefresh is how often the stream looks again without being told: certificates and
// server health change without a new configuration. A comment line keeps idle proxies and
// browsers from closing the stream meanwhile.
const eventsRefresh = 5 * time.Second

// events streams the state as server-sent events: the whole document at once, then again
// each time it changes. The dashboard follows it, so a new error shows within moments of the
// configuration that caused it.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	// The API's read timeout bounds reading requests; this response is meant to last.
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	t := time.NewTicker(eventsRefresh)
	defer t.Stop()
	var last []byte
	for {
		changed := s.changes()
		doc, err := json.Marshal(s.state(time.Now()))
		if err != nil {
			return
		}
		if !bytes.Equal(doc, last) {
			_, err = w.Write(append(append([]byte("event: state\ndata: "), doc...), '\n', '\n'))
			last = doc
		} else {
			_, err = w.Write([]byte(": still here\n\n"))
		}
		if err != nil || rc.Flush() != nil {
			return
		}
		select {
		case <-changed:
		case <-t.C:
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		}
	}
}
