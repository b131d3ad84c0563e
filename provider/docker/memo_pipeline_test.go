package docker

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/rs/zerolog"

	"github.com/wharfproxy/wharf/provider"
	"github.com/wharfproxy/wharf/router"
)

// Shared parts go through the aggregator and the compiler; converting again must still
// give what a fresh conversion gives (nothing downstream modified a part).
func TestPipelineDoesNotModifyParts(t *testing.T) {
	inputs, _ := filepath.Glob(filepath.Join("testdata", "*.in.json"))
	opts := router.Options{EntryPoints: []router.EntryPoint{{Name: "web"}, {Name: "websecure", TLS: true}}, Log: zerolog.Nop()}
	for _, in := range inputs {
		tc := loadCase(t, in)
		conv := memoized(t, tc.Options)
		agg := provider.NewAggregator()
		for i := 0; i < 3; i++ {
			cfg, errs := conv(tc.Containers)
			agg.Update(provider.Message{Provider: "docker", Config: cfg, Errors: errs})
			s, _ := agg.Merge()
			tab, cerrs := router.Compile(s.Config, s.Errors, opts)
			for _, e := range cerrs {
				e.Msg += " annotated"
			}
			for _, e := range s.Errors {
				e.Msg += " annotated"
			}
			tab.Close()
			got, want := renderGolden(conv(tc.Containers)), fresh(t, tc.Containers, tc.Options)
			if !bytes.Equal(got, want) {
				t.Fatalf("%s round %d: differs after the pipeline:\n%s\n%s", in, i, got, want)
			}
		}
	}
}
