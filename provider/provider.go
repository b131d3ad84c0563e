// Package provider defines how sources of dynamic configuration (files, the Docker engine)
// hand their view of the world to wharf, and the aggregator that merges those views into the
// one configuration the router compiles.
package provider

import (
	"context"

	"github.com/wharfproxy/wharf/router/dynamic"
)

// Message is one provider's complete view at one moment. It replaces the provider's previous
// message whole; the provider never touches Config, anything Config points to, or Errors
// after sending it. Items may be shared with earlier messages (a provider keeps what did not
// change), and the aggregator relies on that: a message whose Config and Errors are the very
// ones of the last message merged is taken to say nothing new, so a new view must come in a
// new Config and, when its errors differ, a new Errors slice.
type Message struct {
	Provider string                 // the provider's name, e.g. "file" or "docker"
	Config   *dynamic.Configuration // names unqualified; the aggregator adds "@provider"
	Errors   dynamic.Errors         // problems found while building Config: what was left out and why
}

// Provider watches a source of configuration.
type Provider interface {
	// Name is the provider's name, used to qualify everything it defines (api@docker).
	Name() string
	// Provide sends a full snapshot now and another after every change, until ctx is done.
	// It returns nil when ctx is cancelled, and an error only when it cannot run at all.
	Provide(ctx context.Context, out chan<- Message) error
}
