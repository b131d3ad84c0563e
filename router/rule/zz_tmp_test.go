package rule
import ("testing";"net/netip";"net/http")
func BenchmarkOne(b *testing.B) {
	req := &Request{Host: "blog.example.com", Path: "/api/posts/42", Method: "GET", Header: http.Header{"Accept": {"application/json"}}, RawQuery: "sort=asc&page=2", ClientIP: netip.MustParseAddr("::ffff:192.0.2.1")}
	for _, s := range []string{"Host(`*.example.com`)", "Method(`GET`, `HEAD`) || Header(`X-Debug`, `1`)", "ClientIP(`10.0.0.0/8`, `192.0.2.0/24`)", "Query(`page`, `2`)"} {
		r := MustParse(s)
		b.Run(s, func(b *testing.B) { for b.Loop() { r.Match(req) } })
	}
}
