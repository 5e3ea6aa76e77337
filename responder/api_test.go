package responder

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/chorus-services/discovery/internal/testkit"
	"github.com/chorus-services/discovery/mdns"
	"github.com/chorus-services/discovery/mdns/transport/memnet"
)

// BCT: none (API). New validates and copies its configuration.
func TestNewValidation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBed(t)
		c := b.Listen(b.Host("a"), memnet.ListenOptions{})
		id := testkit.ID(t, 1)
		if _, err := New(Config{PeerID: id}); !errors.Is(err, ErrNoConn) {
			t.Errorf("no conn: %v", err)
		}
		if _, err := New(Config{Conn: c}); !errors.Is(err, mdns.ErrNoID) {
			t.Errorf("no ID: %v", err)
		}
		if _, err := New(Config{Conn: c, PeerID: id, Service: "a,b"}); err == nil {
			t.Error("bad service accepted")
		}
		if _, err := New(Config{Conn: c, PeerID: id, Announcements: 1}); err == nil {
			t.Error("one announcement accepted")
		}
		other := maddrs(t, "/ip4/10.0.0.1/tcp/1/p2p/"+testkit.ID(t, 2).String())
		if _, err := New(Config{Conn: c, PeerID: id, Addrs: other}); err == nil {
			t.Error("address of another peer accepted")
		}
		for in, want := range map[string]string{"": mdns.SpecService, "CHORUS-peer-discovery": "CHORUS-peer-discovery.local.", "_x._udp.local.": "_x._udp.local.", "_x._udp.local": "_x._udp.local."} {
			r, err := New(Config{Conn: c, PeerID: id, Service: in})
			if err != nil || r.rs.Service != want {
				t.Errorf("service %q: %v %v", in, err, r)
			}
			if !mdns.IsPeerName(r.PeerName()) {
				t.Errorf("peer name %q", r.PeerName())
			}
		}
	})
}

// BCT: goodbye (context end); otherwise API. Run's life cycle: Run twice is
// refused, Close is idempotent, Run after Close is refused, the end of the
// context also stops Run (with goodbyes, returning nil as after Close).
func TestLifecycle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBed(t)
		r := b.start(b.Host("a"), Config{})
		time.Sleep(300 * time.Millisecond)
		if err := r.Run(context.Background()); !errors.Is(err, ErrRunning) {
			t.Errorf("second Run: %v", err)
		}
		r.stop(t)
		if err := r.Close(); err != nil {
			t.Error(err)
		}
		if err := r.Run(context.Background()); !errors.Is(err, ErrClosed) {
			t.Errorf("Run after Close: %v", err)
		}

		ctx, cancel := context.WithCancel(context.Background())
		r2, err := New(Config{Conn: b.Listen(b.Host("b"), memnet.ListenOptions{}), PeerID: testkit.ID(t, 2)})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error)
		go func() { done <- r2.Run(ctx) }()
		time.Sleep(5 * time.Second)
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run after the context ended: %v, want nil", err)
		}
		if r2.Stats().Goodbyes == 0 {
			t.Error("no goodbyes at the end of the context")
		}
		r2.Close()
		if s := r.Stats(); s.Probes == 0 || s.Received == 0 {
			t.Errorf("stats %+v", s)
		}
	})
}
