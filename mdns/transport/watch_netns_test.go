package transport

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/chorus-services/discovery/internal/netns"
	"github.com/chorus-services/discovery/internal/testkit"
)

// TestWatcherPollInNamespace drives the polling path (used outside Linux,
// and on Linux when netlink fails) inside a harness namespace, from a
// goroutine that is not in it.
func TestWatcherPollInNamespace(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	n := netns.New(t, 1, netns.WithoutIPv6())
	w, err := netns.Open(n, 1, func() (*Watcher, error) { return NewWatcher(WatcherConfig{PollInterval: 50 * time.Millisecond}) })
	if err != nil {
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
	testkit.Recv(t, w.Events(), "AddrAdded from polling", 5*time.Second, func(ev Event) bool {
		if ev.Kind == AddrAdded && ev.Prefix == extra && ev.IfName == netns.LinkName {
			return true
		}
		t.Logf("other event %+v", ev)
		return false
	})
}
