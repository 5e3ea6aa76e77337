//go:build !linux

package transport

// nsRef is a no-op outside Linux: there are no network namespaces to keep
// track of.
type nsRef struct{}

func captureNS() (nsRef, error) { return nsRef{}, nil }

func noNS() nsRef { return nsRef{} }

func (r *nsRef) do(fn func() error) error { return fn() }

func (r *nsRef) close() {}

// dropUnusableV6: outside Linux the listing does not tell tentative IPv6
// addresses apart; they are kept.
func dropUnusableV6([]Interface) {}
