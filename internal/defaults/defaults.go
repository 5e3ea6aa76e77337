// Package defaults is the one rule of the protocol layers' numeric Config
// fields (the dialer's table of defaults is the model): zero takes the
// default, a negative value is an error naming the field and its value.
// It imports nothing of this module (the dialer, which imports nothing of
// it either, keeps its own copy of the rule in dialer/config.go).
package defaults

import (
	"fmt"
	"time"
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
