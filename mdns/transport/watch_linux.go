//go:build linux

package transport

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"
)

const (
	// resubscribeDelay spaces out netlink resubscriptions after the
	// kernel dropped one (e.g. ENOBUFS when notifications overflowed).
	resubscribeDelay = time.Second
	// maxDrain bounds how many queued notifications one resync absorbs.
	maxDrain = 1024
)

// run follows netlink link and address notifications; each burst triggers
// one resync. When subscribing fails it falls back to polling.
func (w *Watcher) run(ctx context.Context) {
	for {
		sub, err := w.subscribe()
		if err != nil {
			w.log.Warn("netlink subscription failed, polling", "err", err)
			w.poll(ctx)
			return
		}
		w.resync() // changes between the last listing and the subscription
		w.consume(ctx, sub)
		sub.stop()
		if ctx.Err() != nil {
			return
		}
		w.log.Warn("netlink subscription lost, resubscribing")
		t := time.NewTimer(resubscribeDelay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// nlSub is one pair of netlink subscriptions.
type nlSub struct {
	links    chan netlink.LinkUpdate
	addrs    chan netlink.AddrUpdate
	done     chan struct{}
	stopping atomic.Bool
	linkOK   bool
	addrOK   bool
}

// subscribe opens both subscriptions on a thread in the watcher's
// namespace. The netlink package runs a goroutine per subscription that
// closes its channel when the socket is closed (via done), and one that
// waits for done.
func (w *Watcher) subscribe() (*nlSub, error) {
	s := &nlSub{
		links: make(chan netlink.LinkUpdate, 32),
		addrs: make(chan netlink.AddrUpdate, 32),
		done:  make(chan struct{}),
	}
	onErr := func(err error) {
		if !s.stopping.Load() {
			w.log.Warn("netlink", "err", err)
		}
	}
	err := w.ns.do(func() error {
		if err := netlink.LinkSubscribeWithOptions(s.links, s.done, netlink.LinkSubscribeOptions{ErrorCallback: onErr}); err != nil {
			return err
		}
		s.linkOK = true
		if err := netlink.AddrSubscribeWithOptions(s.addrs, s.done, netlink.AddrSubscribeOptions{ErrorCallback: onErr}); err != nil {
			return err
		}
		s.addrOK = true
		return nil
	})
	if err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

// stop closes the sockets and waits until the netlink goroutines have
// closed their channels, draining them so that none stays blocked on a
// send.
func (s *nlSub) stop() {
	if s.stopping.Swap(true) {
		return
	}
	close(s.done)
	if s.linkOK {
		for range s.links {
			// drain until the netlink goroutine closes it
		}
	}
	if s.addrOK {
		for range s.addrs {
			// drain until the netlink goroutine closes it
		}
	}
}

// consume resyncs on each burst of notifications until ctx is done or a
// subscription ends (its channel closes).
func (w *Watcher) consume(ctx context.Context, s *nlSub) {
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-s.links:
			if !ok {
				return
			}
		case _, ok := <-s.addrs:
			if !ok {
				return
			}
		}
		if !drain(s) {
			return
		}
		w.resync()
	}
}

// drain absorbs the notifications already queued; false when a channel
// closed.
func drain(s *nlSub) bool {
	for range maxDrain {
		select {
		case _, ok := <-s.links:
			if !ok {
				return false
			}
		case _, ok := <-s.addrs:
			if !ok {
				return false
			}
		default:
			return true
		}
	}
	return true
}
