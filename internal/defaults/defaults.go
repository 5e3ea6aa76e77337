// Package defaults holds the rules the responder's and the browser's
// Configs share: numeric fields (the dialer's table of defaults is the
// model: zero takes the default, a negative value is an error naming the
// field and its value), and the Service, Logger and Rand fields. It
// imports only the mdns codec (the dialer, which imports nothing of this
// module, keeps its own copy of the numeric rule in dialer/config.go).
package defaults

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/chorus-services/discovery/mdns"
)

// Field is one numeric Config field: its name, where it is, its default.
type Field[T int | time.Duration] struct {
	Name string
	V    *T
	Def  T
}

// Apply fills the zero fields with their defaults; a negative field is an
// error "pkg: Config.Name is negative (value)".
func Apply[T int | time.Duration](pkg string, fields ...Field[T]) error {
	for _, f := range fields {
		switch {
		case *f.V < 0:
			return fmt.Errorf("%s: Config.%s is negative (%v)", pkg, f.Name, *f.V)
		case *f.V == 0:
			*f.V = f.Def
		}
	}
	return nil
}

// Common checks and fills the fields every protocol layer's Config has:
// Service becomes its fully qualified form (mdns.ServiceFQDN; an error
// names the field and value), a nil Logger discards, and gets the
// component attribute pkg, a nil Rand is seeded at random.
func Common(pkg string, service *string, logger **slog.Logger, rnd **rand.Rand) error {
	svc, err := mdns.ServiceFQDN(*service)
	if err != nil {
		return fmt.Errorf("%s: Config.Service %q: %w", pkg, *service, err)
	}
	*service = svc
	if *logger == nil {
		*logger = slog.New(slog.DiscardHandler)
	}
	*logger = (*logger).With("component", pkg)
	if *rnd == nil {
		*rnd = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	return nil
}
