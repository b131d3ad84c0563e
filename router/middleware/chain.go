package middleware

import (
	"net/http"

	"github.com/wharfproxy/wharf/router/dynamic"
)

// chain is a named list of middlewares, applied in order, so a set used by many routers is
// written once. Names without @provider refer to the provider that declared the chain.
var chainType = Type{Name: "chain", New: newChain}

type chainOptions struct {
	Middlewares []string
}

func newChain(env *Env, opts *dynamic.Node) (Middleware, error) {
	var o chainOptions
	if err := env.Decode(opts, &o); err != nil {
		return nil, err
	}
	if len(o.Middlewares) == 0 {
		return nil, env.Invalid(opts, "middlewares", "a chain needs at least one middleware in middlewares")
	}
	if env.Middleware == nil {
		return nil, env.Invalid(opts, "middlewares", "chains cannot be built here")
	}
	mws := make([]Middleware, len(o.Middlewares))
	for i, name := range o.Middlewares {
		q := env.Qualify(name)
		mw, err := env.Middleware(q)
		if err != nil {
			return nil, env.Invalid(opts, "middlewares", "middleware %q: %v", q, err)
		}
		mws[i] = mw
	}
	return func(next http.Handler) http.Handler {
		for i := len(mws) - 1; i >= 0; i-- {
			next = mws[i](next)
		}
		return next
	}, nil
}
