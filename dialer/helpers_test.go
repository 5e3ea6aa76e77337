package dialer

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chorus-services/discovery/internal/testkit"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// newHost starts a loopback TCP-only host, closed at the end of the test.
func newHost(t *testing.T, opts ...libp2p.Option) host.Host {
	t.Helper()
	opts = append([]libp2p.Option{
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.DisableRelay(),
		libp2p.DisableMetrics(),
		libp2p.Ping(false),
	}, opts...)
	h, err := libp2p.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// newHostWithConnMgr starts a host with a real connection manager.
func newHostWithConnMgr(t *testing.T) host.Host {
	t.Helper()
	cm, err := connmgr.NewConnManager(100, 200)
	if err != nil {
		t.Fatal(err)
	}
	return newHost(t, libp2p.ConnectionManager(cm))
}

func info(h host.Host) peer.AddrInfo {
	return peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()}
}

// harness is a running Dialer whose host.Connect calls are counted.
type harness struct {
	*Dialer
	calls    atomic.Int64 // connect calls started
	cur, max atomic.Int64 // concurrent connect calls
	runErr   chan error
}

// start creates a Dialer on cfg.Host and runs it until the test ends.
// With run false, the Dialer is created but not run (nothing is dialled).
func start(t *testing.T, cfg Config, run bool) *harness {
	t.Helper()
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hr := &harness{Dialer: d, runErr: make(chan error, 1)}
	inner := d.connect
	d.connect = func(ctx context.Context, ai peer.AddrInfo) error {
		hr.calls.Add(1)
		n := hr.cur.Add(1)
		for {
			m := hr.max.Load()
			if n <= m || hr.max.CompareAndSwap(m, n) {
				break
			}
		}
		defer hr.cur.Add(-1)
		return inner(ctx, ai)
	}
	if run {
		go func() { hr.runErr <- d.Run(context.Background()) }()
	}
	t.Cleanup(func() {
		d.Close()
		if run {
			select {
			case err := <-hr.runErr:
				if err != nil && !errors.Is(err, ErrClosed) { // ErrClosed: Close won the race with Run
					t.Errorf("Run: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Error("Run did not return after Close")
			}
		}
	})
	return hr
}

// waitLimit bounds every wait of these tests.
const waitLimit = 10 * time.Second

// nextEvent returns the next event of kind, skipping others, within
// waitLimit.
func nextEvent(t *testing.T, d *harness, kind EventKind) Event {
	t.Helper()
	return testkit.Recv(t, d.Events(), kind.String()+" event", waitLimit, func(ev Event) bool { return ev.Kind == kind })
}

// hangingListener accepts TCP connections and never writes, so a libp2p
// handshake against it hangs. It is closed at the end of the test.
func hangingListener(t *testing.T) ma.Multiaddr {
	t.Helper()
	a, _ := hangingListenerCount(t)
	return a
}

// hangingListenerCount is hangingListener that also reports how many
// connections it has accepted.
func hangingListenerCount(t *testing.T) (ma.Multiaddr, func() int) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	a, err := manet.FromNetAddr(l.Addr())
	if err != nil {
		t.Fatal(err)
	}
	return a, func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(conns)
	}
}

// refusedAddr returns a loopback TCP address nobody listens on.
func refusedAddr(t *testing.T) ma.Multiaddr {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a, err := manet.FromNetAddr(l.Addr())
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	return a
}

// disconnect closes a's connections to b and waits until the dialer has
// seen the peer disconnected.
func (d *harness) disconnect(t *testing.T, a, b host.Host) {
	t.Helper()
	if err := a.Network().ClosePeer(b.ID()); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "the disconnect", waitLimit, func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		return !d.peers[b.ID()].disconnectedAt.IsZero()
	})
}
