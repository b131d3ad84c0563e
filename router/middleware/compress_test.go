package middleware

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

func TestAcceptEncodingNegotiation(t *testing.T) {
	def := &compressMW{encodings: []encoding{encZstd, encBrotli, encGzip}}
	gzipFirst := &compressMW{encodings: []encoding{encGzip, encBrotli, encZstd}}
	withDefault := &compressMW{encodings: []encoding{encZstd, encBrotli, encGzip}, preferred: encGzip}
	for _, tc := range []struct {
		name string
		c    *compressMW
		ae   []string // nil: no header
		want encoding
	}{
		{"none_without_header", def, nil, encNone},
		{"default_without_header", withDefault, nil, encGzip},
		{"empty_header_means_none", withDefault, []string{""}, encNone},
		{"gzip_only", def, []string{"gzip"}, encGzip},
		{"x_gzip", def, []string{"x-gzip"}, encGzip},
		{"browser_list_prefers_priority", def, []string{"gzip, deflate, br, zstd"}, encZstd},
		{"priority_order_configurable", gzipFirst, []string{"gzip, deflate, br, zstd"}, encGzip},
		{"q_values_win_over_priority", def, []string{"zstd;q=0.5, br;q=0.9, gzip;q=0.8"}, encBrotli},
		{"q_zero_refuses", def, []string{"zstd;q=0, br;q=0, gzip"}, encGzip},
		{"star_covers_unlisted", def, []string{"gzip;q=0.5, *"}, encZstd},
		{"star_with_refusals", def, []string{"*, zstd;q=0, br;q=0"}, encGzip},
		{"star_tie_goes_to_default", withDefault, []string{"*"}, encGzip},
		{"identity_only", def, []string{"identity"}, encNone},
		{"case_and_spaces", def, []string{" GZIP ; Q=1 "}, encGzip},
		{"several_header_lines", def, []string{"identity", "br"}, encBrotli},
		{"unparsable_q_is_zero", def, []string{"br;q=high, gzip"}, encGzip},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.ae != nil {
				h["Accept-Encoding"] = tc.ae
			}
			if got := tc.c.negotiate(h); got != tc.want {
				t.Errorf("got %q; want %q", encodingNames[got], encodingNames[tc.want])
			}
		})
	}
}

func TestNegotiationDoesNotAllocate(t *testing.T) {
	c := &compressMW{encodings: []encoding{encZstd, encBrotli, encGzip}}
	h := http.Header{"Accept-Encoding": {"gzip, deflate, br;q=0.9, zstd;q=0.8"}}
	if n := testing.AllocsPerRun(100, func() { c.negotiate(h) }); n != 0 {
		t.Errorf("allocs = %v; want 0", n)
	}
}

func decode(t testing.TB, enc string, b []byte) string {
	t.Helper()
	var r io.Reader
	switch enc {
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	case "br":
		r = brotli.NewReader(bytes.NewReader(b))
	case "zstd":
		zr, err := zstd.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		r = zr
	default:
		return string(b)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("%s: %v", enc, err)
	}
	return string(out)
}

var page = strings.Repeat("<p>hello wharf, hello compression</p>\n", 200)

// app answers with the given headers and body, in two writes.
func app(header map[string]string, status int, body string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, v := range header {
			w.Header().Set(k, v)
		}
		if status != 0 {
			w.WriteHeader(status)
		}
		_, _ = io.WriteString(w, body[:len(body)/2])
		_, _ = io.WriteString(w, body[len(body)/2:])
	})
}

func TestCompress(t *testing.T) {
	html := map[string]string{"Content-Type": "text/html; charset=utf-8"}
	for _, tc := range []struct {
		name    string
		kv      []string
		ae      string
		method  string
		handler http.Handler
		want    string // Content-Encoding
	}{
		{"gzip", []string{"true"}, "gzip", "GET", app(html, 0, page), "gzip"},
		{"brotli", []string{"true"}, "br", "GET", app(html, 0, page), "br"},
		{"zstd", []string{"true"}, "zstd", "GET", app(html, 0, page), "zstd"},
		{"small_body_left_alone", []string{"true"}, "gzip", "GET", app(html, 0, "<p>tiny</p>"), ""},
		{"min_size_option", []string{"minResponseBodyBytes", "10"}, "gzip", "GET", app(html, 0, "<p>not so tiny</p>"), "gzip"},
		{"known_small_length_left_alone", []string{"true"}, "gzip", "GET", app(map[string]string{"Content-Length": "11", "Content-Type": "text/plain"}, 0, "hello world"), ""},
		{"already_encoded_never_twice", []string{"true"}, "gzip", "GET", app(map[string]string{"Content-Encoding": "br", "Content-Type": "text/html"}, 0, page), "br"},
		{"jpeg_skipped", []string{"true"}, "gzip", "GET", app(map[string]string{"Content-Type": "image/jpeg"}, 0, page), ""},
		{"grpc_skipped", []string{"true"}, "gzip", "GET", app(map[string]string{"Content-Type": "application/grpc+proto"}, 0, page), ""},
		{"excluded_type", []string{"excludedContentTypes", "text/event-stream,text/html"}, "gzip", "GET", app(html, 0, page), ""},
		{"included_type", []string{"includedContentTypes", "application/json"}, "gzip", "GET", app(html, 0, page), ""},
		{"included_type_matches", []string{"includedContentTypes", "text/html"}, "gzip", "GET", app(html, 0, page), "gzip"},
		{"no_transform_respected", []string{"true"}, "gzip", "GET", app(map[string]string{"Cache-Control": "public, no-transform"}, 0, page), ""},
		{"partial_content_skipped", []string{"true"}, "gzip", "GET", app(map[string]string{"Content-Range": "bytes 0-9/100"}, 206, page), ""},
		{"not_modified_skipped", []string{"true"}, "gzip", "GET", app(nil, 304, ""), ""},
		{"head_skipped", []string{"true"}, "gzip", "HEAD", app(html, 0, page), ""},
		{"encoding_not_offered", []string{"encodings", "zstd"}, "gzip, br", "GET", app(html, 0, page), ""},
		{"error_pages_compressed_too", []string{"true"}, "gzip", "GET", app(html, 500, page), "gzip"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := build(t, "compress", labels(t, "compress", tc.kv...))(tc.handler)
			req := httptest.NewRequest(tc.method, "/", nil)
			req.Header.Set("Accept-Encoding", tc.ae)
			rec := serve(h, req)
			got := rec.Header().Get("Content-Encoding")
			if got != tc.want {
				t.Fatalf("Content-Encoding %q; want %q", got, tc.want)
			}
			if tc.name == "already_encoded_never_twice" {
				if rec.Body.String() != page {
					t.Error("the body was changed")
				}
				return
			}
			if tc.method == "HEAD" || rec.Code == 304 {
				return
			}
			plain := decode(t, got, rec.Body.Bytes())
			if plain != page && plain != "<p>tiny</p>" && plain != "<p>not so tiny</p>" && plain != "hello world" {
				t.Errorf("decoded body differs from the original (%d bytes)", len(plain))
			}
		})
	}
}

func TestCompressHeaders(t *testing.T) {
	h := build(t, "compress", labels(t, "compress", "true"))(app(map[string]string{
		"Content-Type": "text/html", "Content-Length": itoa(len(page)), "Etag": `"v1"`, "Accept-Ranges": "bytes", "Vary": "Origin",
	}, 0, page))
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	rec := serve(h, req)
	hd := rec.Header()
	if hd.Get("Content-Length") != "" || hd.Get("Accept-Ranges") != "" || hd.Get("Etag") != `W/"v1"` ||
		strings.Join(hd.Values("Vary"), ",") != "Origin,Accept-Encoding" {
		t.Errorf("headers %v", hd)
	}
	t.Run("no_content_type_is_sniffed_before_compressing", func(t *testing.T) {
		h := build(t, "compress", labels(t, "compress", "true"))(app(nil, 0, page))
		rec := serve(h, req)
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Errorf("Content-Type %q; want it detected from the plain bytes", ct)
		}
	})
}

func TestCompressFlushStartsStreaming(t *testing.T) {
	flushed := make(chan struct{})
	h := build(t, "compress", labels(t, "compress", "true"))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: one\n\n")
		_ = http.NewResponseController(w).Flush()
		close(flushed)
		_, _ = io.WriteString(w, "data: two\n\n")
	}))
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	rec := serve(h, req)
	<-flushed
	if !rec.Flushed || rec.Header().Get("Content-Encoding") != "gzip" {
		t.Fatalf("flushed %v, encoding %q", rec.Flushed, rec.Header().Get("Content-Encoding"))
	}
	if got := decode(t, "gzip", rec.Body.Bytes()); got != "data: one\n\ndata: two\n\n" {
		t.Errorf("got %q", got)
	}
}
