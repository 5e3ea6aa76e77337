//go:build !linux

package netns

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"testing"
)

var errUnsupported = errors.New("netns: network namespaces need Linux")

// Net is a virtual LAN of network namespaces; outside Linux New always
// skips, so its methods are never reached.
type Net struct{}

// New skips the test: network namespaces need Linux.
func New(t testing.TB, _ int, _ ...Option) *Net {
	t.Helper()
	skip(t, "network namespaces need Linux")
	return nil
}

// ErrUnavailable is wrapped by the errors of Available and Build when
// namespaces cannot be created on this machine.
var ErrUnavailable = errors.New("network namespaces unavailable")

// Available always fails outside Linux.
func Available() error { return fmt.Errorf("netns: %w: %w", errUnsupported, ErrUnavailable) }

// Build always fails outside Linux.
func Build(int, ...Option) (*Net, error) { return nil, Available() }

// Close does nothing.
func (*Net) Close() error { return nil }

// Sweep does nothing outside Linux.
func Sweep(string) (int, error) { return 0, nil }

// WaitReady is not supported outside Linux.
func (*Net) WaitReady(int) error { return errUnsupported }

// Len returns 0.
func (*Net) Len() int { return 0 }

// Prefix returns "".
func (*Net) Prefix() string { return "" }

// Bridge returns "".
func (*Net) Bridge() string { return "" }

// Host returns the zero Host.
func (*Net) Host(int) Host { return Host{} }

// Exec returns a command that fails.
func (*Net) Exec(ctx context.Context, _ int, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Err = errUnsupported
	return cmd
}

// Do is not supported outside Linux.
func (*Net) Do(int, func() error) error { return errUnsupported }

// AddAddr is not supported outside Linux.
func (*Net) AddAddr(int, netip.Prefix) error { return errUnsupported }

// DelAddr is not supported outside Linux.
func (*Net) DelAddr(int, netip.Prefix) error { return errUnsupported }

// SetLinkUp is not supported outside Linux.
func (*Net) SetLinkUp(int, bool) error { return errUnsupported }

// Capture is not supported outside Linux.
func (*Net) Capture(context.Context, string) (func() error, error) { return nil, errUnsupported }
