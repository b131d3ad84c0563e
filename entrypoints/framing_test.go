package entrypoints

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"testing"
)

// verdict feeds raw to a fresh checker in pieces of size step and returns the index of the
// first refused request (-1: none) and the number of requests completed.
func verdict(raw string, step int) (bad, done int64) {
	f := newFraming(DefaultMaxHeaderBytes)
	b := []byte(raw)
	for len(b) > 0 {
		n := min(step, len(b))
		f.feed(b[:n])
		b = b[n:]
	}
	return f.bad.Load(), f.heads
}

func TestFraming(t *testing.T) {
	const h = "Host: a\r\n"
	for _, tc := range []struct {
		name string
		raw  string
		bad  int64 // index of the first refused request, -1 for none
		done int64 // requests whose framing completed
	}{
		{"get", "GET / HTTP/1.1\r\n" + h + "\r\n", -1, 1},
		{"pipelined_gets", "GET /1 HTTP/1.1\r\n" + h + "\r\nGET /2 HTTP/1.1\r\n" + h + "\r\n", -1, 2},
		{"content_length_body_skipped", "POST / HTTP/1.1\r\n" + h + "Content-Length: 6\r\n\r\nGET /\nGET / HTTP/1.1\r\n" + h + "\r\n", -1, 2},
		{"chunked_with_extension_and_trailer", "POST / HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n0\r\nX-T: 1\r\n\r\n", -1, 1},
		{"chunked_uppercase_and_whitespace", "POST / HTTP/1.1\r\n" + h + "Transfer-Encoding:  Chunked \r\n\r\nA \r\n0123456789\r\n0\r\n\r\n", -1, 1},
		{"http10", "GET / HTTP/1.0\r\n\r\n", -1, 1},
		{"content_length_and_chunked", "POST / HTTP/1.1\r\n" + h + "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 0, 0},
		{"chunked_and_content_length", "POST / HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n", 0, 0},
		{"duplicate_content_length", "POST / HTTP/1.1\r\n" + h + "Content-Length: 1\r\nContent-Length: 1\r\n\r\nx", 0, 0},
		{"list_content_length", "POST / HTTP/1.1\r\n" + h + "Content-Length: 1, 1\r\n\r\nx", 0, 0},
		{"signed_content_length", "POST / HTTP/1.1\r\n" + h + "Content-Length: +1\r\n\r\nx", 0, 0},
		{"chunked_on_http10", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 0, 0},
		{"obs_fold", "GET / HTTP/1.1\r\n" + h + "X-A: 1\r\n 2\r\n\r\n", 0, 0},
		{"bare_lf_in_head", "GET / HTTP/1.1\r\n" + h + "X-A: 1\n\r\n", 0, 0},
		{"bare_lf_request_line", "GET / HTTP/1.1\n" + h + "\r\n", 0, 0},
		{"bare_cr_in_value", "GET / HTTP/1.1\r\n" + h + "X-A: 1\r2\r\n\r\n", 0, 0},
		{"nul_in_value", "GET / HTTP/1.1\r\n" + h + "X-A: 1\x002\r\n\r\n", 0, 0},
		{"space_before_colon", "GET / HTTP/1.1\r\n" + h + "Content-Length : 1\r\n\r\nx", 0, 0},
		{"http2_preface_ends_checking", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 1, 0},
		{"bare_lf_chunk_size", "POST / HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked\r\n\r\n1\nx\r\n0\r\n\r\n", 0, 0},
		{"bare_lf_after_chunk_data", "POST / HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked\r\n\r\n1\r\nx\n0\r\n\r\n", 0, 0},
		{"bare_cr_in_chunk_extension", "POST / HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked\r\n\r\n1;a\rb\r\nx\r\n0\r\n\r\n", 0, 0},
		{"chunk_data_longer_than_size", "POST / HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked\r\n\r\n1\r\nxx\r\n0\r\n\r\n", 0, 0},
		{"chunk_size_not_hex", "POST / HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked\r\n\r\n0x1\r\nx\r\n0\r\n\r\n", 0, 0},
		{"chunk_size_too_long", "POST / HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked\r\n\r\n1000000000000000\r\n", 0, 0},
		{"second_request_refused", "GET / HTTP/1.1\r\n" + h + "\r\nPOST / HTTP/1.1\r\n" + h + "Content-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 1, 1},
		{"smuggled_after_lenient_chunk", "POST / HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked\r\n\r\n0\n\r\nGET /smuggled HTTP/1.1\r\n" + h + "\r\n", 0, 0},
		// net/http answers these itself (501) and closes; no request after them is served.
		{"unsupported_transfer_encoding", "POST / HTTP/1.1\r\n" + h + "Transfer-Encoding: gzip, chunked\r\n\r\n", 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, step := range []int{1, 3, len(tc.raw)} {
				bad, done := verdict(tc.raw, step)
				if bad != tc.bad || done != tc.done {
					t.Fatalf("fed %d bytes at a time: first refused %d, completed %d; want %d, %d", step, bad, done, tc.bad, tc.done)
				}
			}
		})
	}
}

// FuzzFraming checks the framing checker against net/http's own request parser: wherever
// both accept a request, they must agree on where it ends (or a backend behind wharf could
// be handed a different split than the one wharf checked). It also checks that how the
// bytes are split into reads never changes the verdict.
func FuzzFraming(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n",
		"GET / HTTP/1.0\r\nX: a\r\n b\r\n\r\n",
	} {
		f.Add([]byte(s), uint8(1))
	}
	f.Fuzz(func(t *testing.T, raw []byte, step uint8) {
		if len(raw) > 4096 {
			return
		}
		ours := boundaries(raw)
		bad, done := verdict(string(raw), int(step)+1)
		whole, wholeDone := verdict(string(raw), len(raw)+1)
		if bad != whole || done != wholeDone {
			t.Fatalf("split into %d-byte reads: (%d, %d); whole: (%d, %d)", int(step)+1, bad, done, whole, wholeDone)
		}
		theirs := goBoundaries(raw, len(ours))
		for i := range min(len(ours), len(theirs)) {
			if ours[i] != theirs[i] {
				t.Fatalf("request %d ends at byte %d for the checker and at %d for net/http (ours %v, theirs %v)", i, ours[i], theirs[i], ours, theirs)
			}
		}
	})
}

// boundaries returns the offset just after each request the checker completed.
func boundaries(raw []byte) []int {
	f := newFraming(DefaultMaxHeaderBytes)
	var out []int
	for i := range raw {
		before := f.heads
		f.feed(raw[i : i+1])
		if f.heads > before {
			out = append(out, i+1)
		}
	}
	return out
}

// goBoundaries returns where net/http's parser ends each of the first n requests it accepts.
func goBoundaries(raw []byte, n int) []int {
	cr := &countingReader{r: bytes.NewReader(raw)}
	br := bufio.NewReader(cr)
	var out []int
	for len(out) < n {
		req, err := http.ReadRequest(br)
		if err != nil {
			return out
		}
		if _, err := io.Copy(io.Discard, req.Body); err != nil {
			return out
		}
		out = append(out, cr.n-br.Buffered())
	}
	return out
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}
