package browser

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/chorus-services/discovery/internal/testkit"
	"github.com/chorus-services/discovery/internal/testkit/memkit"
	"github.com/chorus-services/discovery/mdns/transport"
)

func TestNewValidates(t *testing.T) {
	if _, err := New(Config{}); !errors.Is(err, ErrNoConn) {
		t.Errorf("no conn: %v", err)
	}
	synctest.Test(t, func(t *testing.T) {
		c := memkit.Open(t, memkit.AddHost(t, memkit.NewLAN(t), "a"))
		for svc, want := range map[string]string{
			"": "_p2p._udp.local.", "_p2p._udp": "_p2p._udp.local.", "_p2p._udp.local": "_p2p._udp.local.",
			"CHORUS-peer-discovery": "CHORUS-peer-discovery.local.", "_x._udp.local.": "_x._udp.local.",
		} {
			b, err := New(Config{Conn: c, Service: svc})
			if err != nil || b.Service() != want {
				t.Errorf("%q: %v %v", svc, b, err)
			}
			b.Close()
		}
		for _, bad := range []string{"a,b", ".local", "x..y"} {
			if _, err := New(Config{Conn: c, Service: bad}); err == nil {
				t.Errorf("%q accepted", bad)
			}
		}
		if _, err := New(Config{Conn: c, MaxPeers: -1}); err == nil {
			t.Error("negative limit accepted")
		}
	})
}

// TestRunClose: Close stops Run, waits, closes Events (not the Conn, which
// its opener closes), and is idempotent; Run after Close fails.
func TestRunClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, envOpt{})
		time.Sleep(time.Second)
		if err := e.b.Close(); err != nil {
			t.Fatal(err)
		}
		if err := <-e.runErr; err != nil {
			t.Errorf("Run: %v", err)
		}
		if err := e.b.Close(); err != nil {
			t.Fatal(err)
		}
		if _, ok := <-e.b.Events(); ok {
			t.Error("events open")
		}
		if v, err := e.conn.View(transport.ViewConfig{}); err != nil {
			t.Errorf("the Browser closed the Conn it was lent: %v", err)
		} else {
			v.Close()
		}
		if err := e.b.Run(context.Background()); !errors.Is(err, ErrClosed) {
			t.Errorf("Run after Close: %v", err)
		}
		e.stop()
	})
}

// TestRunContext: Run returns when its context is cancelled; a second Run
// is refused; a Conn closed under Run ends it with ErrClosed.
func TestRunContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, envOpt{noRun: true})
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { errc <- e.b.Run(ctx) }()
		syncWait()
		if err := e.b.Run(ctx); !errors.Is(err, ErrRunning) {
			t.Errorf("second Run: %v", err)
		}
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, envOpt{})
		e.conn.Close()
		if err := <-e.runErr; !errors.Is(err, transport.ErrClosed) {
			t.Errorf("Run: %v", err)
		}
	})
}

// TestFeedThenRun: packets fed before Run do not stop Run from querying.
func TestFeedThenRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, envOpt{noRun: true, noRead: true})
		pkt := goResponse(t, testkit.ID(t, 1), peerName(1), 4500, "/ip4/10.0.0.9/tcp/1")
		e.b.Feed(transport.Packet{Data: pkt, Src: mustAP("10.0.0.9:5353"), Dst: transport.GroupV4, IfIndex: e.iface.Index(), TTL: 255}, time.Now())
		if len(e.b.Peers()) != 1 {
			t.Fatal("not fed")
		}
		go func() { e.runErr <- e.b.Run(context.Background()) }()
		time.Sleep(2 * time.Second)
		syncWait()
		if len(e.queries()) == 0 {
			t.Error("no queries")
		}
		if ev := <-e.b.Events(); ev.Kind != Found {
			t.Errorf("%v", ev.Kind)
		}
	})
}
