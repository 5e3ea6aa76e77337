//go:build linux

package transport

import (
	"errors"
	"fmt"
	"runtime"

	vnetns "github.com/vishvananda/netns"
)

// nsRef remembers the network namespace a UDP or Watcher was created in, so
// that later interface listings (Refresh, the watcher's resyncs) look at the
// namespace the sockets live in, whichever goroutine calls them. In the
// usual case of a process that never switches namespaces this is the
// process's own namespace and no switching ever happens.
type nsRef struct {
	h vnetns.NsHandle
}

// captureNS takes a handle to the calling thread's network namespace. The
// caller must hold runtime.LockOSThread if it may run in another namespace
// than the process's. A failure is not fatal: the listing then happens in
// the namespace of whichever thread calls it.
func captureNS() (nsRef, error) {
	h, err := vnetns.Get()
	if err != nil {
		return nsRef{h: vnetns.None()}, fmt.Errorf("transport: get network namespace: %w", err)
	}
	return nsRef{h: h}, nil
}

// do runs fn on an OS thread that is in the captured namespace. When the
// thread already is (the usual case), fn runs without any namespace switch,
// so no privilege is needed. Otherwise fn runs on a fresh locked thread
// switched into the namespace and back; if switching back fails, the thread
// is left locked and so destroyed when its goroutine ends.
func (r *nsRef) do(fn func() error) error {
	if !r.h.IsOpen() {
		return fn()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		restored, err := r.doLocked(fn)
		if restored {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

func (r *nsRef) doLocked(fn func() error) (restored bool, err error) {
	cur, err := vnetns.Get()
	if err != nil {
		return true, fmt.Errorf("transport: get network namespace: %w", err)
	}
	defer cur.Close()
	if cur.Equal(r.h) {
		return true, fn()
	}
	if err := vnetns.Set(r.h); err != nil {
		return true, fmt.Errorf("transport: enter network namespace: %w", err)
	}
	ferr := fn()
	if err := vnetns.Set(cur); err != nil {
		return false, errors.Join(ferr, fmt.Errorf("transport: restore network namespace: %w", err))
	}
	return true, ferr
}

// noNS is a reference to no namespace: do runs fn where it is called.
func noNS() nsRef { return nsRef{h: vnetns.None()} }

func (r *nsRef) close() {
	if r.h.IsOpen() {
		_ = r.h.Close()
		r.h = vnetns.None()
	}
}
