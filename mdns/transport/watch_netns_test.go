package transport

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/chorus-services/discovery/internal/netns"
)

// TestWatcherPollInNamespace drives the polling path (used outside Linux,
// and on Linux when netlink fails) inside a harness namespace, from a
// goroutine that is not in it.
func TestWatcherPollInNamespace(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	n := netns.New(t, 1, netns.WithoutIPv6())
	var w *Watcher
	if err := n.Do(1, func() error {
		var err error
		w, err = NewWatcher(WatcherConfig{PollInterval: 50 * time.Millisecond})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.poll(ctx)
	}()
	defer func() {
		cancel()
		<-done
		w.ns.close()
	}()

	extra := netip.MustParsePrefix("198.51.100.77/24")
	if err := n.AddAddr(1, extra); err != nil {
		t.Fatal(err)
	}
	deadline := time.NewTimer(5 * time.Second)
	defer deadline.Stop()
	for {
		select {
		case ev := <-w.Events():
			if ev.Kind == AddrAdded && ev.Prefix == extra && ev.IfName == netns.LinkName {
				return
			}
			t.Logf("other event %+v", ev)
		case <-deadline.C:
			t.Fatal("no AddrAdded from polling within 5 s")
		}
	}
}
