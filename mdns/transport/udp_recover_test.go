package transport

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/chorus-services/discovery/mdns"
)

// These tests drive the socket recovery of udp_recover.go through fake
// sockets (the unexported open seam), on synctest's clock: every delay is
// checked exactly and no real socket is opened.

// fakeSock is an in-memory famSock.
type fakeSock struct {
	isV4   bool
	in     chan fakeRead
	closed chan struct{}
	once   sync.Once

	mu       sync.Mutex
	failErr  error // when set, every read fails with it at once
	joins    []int
	writes   int
	writeErr error
}

type fakeRead struct {
	data []byte
	err  error
}

func newFakeSock(v4 bool) *fakeSock {
	return &fakeSock{isV4: v4, in: make(chan fakeRead, 16), closed: make(chan struct{})}
}

func (f *fakeSock) v4() bool { return f.isV4 }

func (f *fakeSock) read(b []byte, m *rxMeta) (int, error) {
	f.mu.Lock()
	err := f.failErr
	f.mu.Unlock()
	if err != nil {
		return 0, err
	}
	select {
	case r := <-f.in:
		if r.err != nil {
			return 0, r.err
		}
		src, dst := netip.MustParseAddrPort("198.51.100.12:5353"), mdns.GroupV4
		if !f.isV4 {
			src, dst = netip.MustParseAddrPort("[2001:db8:53::12]:5353"), mdns.GroupV6
		}
		*m = rxMeta{src: src, dst: dst, ifIndex: 2, ttl: 255}
		return copy(b, r.data), nil
	case <-f.closed:
		return 0, net.ErrClosed
	}
}

func (f *fakeSock) write(b []byte, dst netip.AddrPort, ifi *net.Interface, ttl int) error {
	select {
	case <-f.closed:
		return net.ErrClosed
	default:
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.writeErr != nil {
		return f.writeErr
	}
	f.writes++
	return nil
}

func (f *fakeSock) join(ifi *net.Interface) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.joins = append(f.joins, ifi.Index)
	return nil
}

func (f *fakeSock) leave(*net.Interface) error { return nil }

func (f *fakeSock) close() error {
	f.once.Do(func() { close(f.closed) })
	return nil
}

func (f *fakeSock) isClosed() bool { return isClosed(f.closed) }

// fail makes the blocked read and every later one fail with err.
func (f *fakeSock) fail(err error) {
	f.mu.Lock()
	f.failErr = err
	f.mu.Unlock()
	f.in <- fakeRead{err: err}
}

func (f *fakeSock) deliver(s string) { f.in <- fakeRead{data: []byte(s)} }

// logRecorder is a slog.Handler keeping level and message of each record.
type logRecorder struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, r)
	return nil
}
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

func (l *logRecorder) count(level slog.Level, msgPart string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.recs {
		if r.Level == level && strings.Contains(r.Message, msgPart) {
			n++
		}
	}
	return n
}

// rig is a UDP over two fake sockets, joined on lan0 (index 2) in both
// families; every socket its reopens open is kept in opened.
type rig struct {
	u      *UDP
	view   *View
	v4, v6 *fakeSock
	logs   *logRecorder

	mu       sync.Mutex
	opened   []*fakeSock
	openErrs []error       // returned by the next opens, in order
	gate     chan struct{} // when set, opens wait for it
}

func newRig() *rig {
	r := &rig{logs: &logRecorder{}, v4: newFakeSock(true), v6: newFakeSock(false)}
	u := newUDP(Config{Logger: slog.New(r.logs)})
	u.ns = noNS()
	u.ifs[2] = &Interface{Index: 2, Name: "lan0", MTU: 1500, Up: true, Multicast: true, V4: true, V6: true,
		Prefixes: []netip.Prefix{netip.MustParsePrefix("198.51.100.11/24"), netip.MustParsePrefix("2001:db8:53::11/64")}}
	u.open = func(v4 bool) (famSock, []Problem, error) {
		r.mu.Lock()
		gate := r.gate
		r.mu.Unlock()
		if gate != nil {
			<-gate
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		if len(r.openErrs) > 0 {
			err := r.openErrs[0]
			r.openErrs = r.openErrs[1:]
			return nil, nil, err
		}
		s := newFakeSock(v4)
		r.opened = append(r.opened, s)
		return s, nil, nil
	}
	u.socks[0], u.socks[1] = r.v4, r.v6
	v, err := u.View(ViewConfig{Name: "test"})
	if err != nil {
		panic(err)
	}
	u.start()
	r.u, r.view = u, v
	return r
}

func (r *rig) reopened() []*fakeSock {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*fakeSock(nil), r.opened...)
}

// recv returns the next queued datagram; the caller has let it arrive
// (synctest.Wait).
func (r *rig) recv(t *testing.T) string {
	t.Helper()
	if len(r.view.Packets()) == 0 {
		t.Fatal("no datagram queued")
	}
	var p Packet
	if err := r.view.ReadPacket(make([]byte, 100), &p); err != nil {
		t.Fatal(err)
	}
	return string(p.Data)
}

func (r *rig) problem(fam, step string) *Problem {
	for _, p := range r.u.Problems() {
		if p.Family == fam && p.Step == step {
			return &p
		}
	}
	return nil
}

func TestReopenAfterPersistentReadErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig()
		defer r.u.Close()
		start := time.Now()
		r.v4.fail(os.ErrDeadlineExceeded) // an error that does not say the socket is gone
		synctest.Wait()
		if st := r.u.Stats(); st.ReadErrors != 1 || st.Reopens != 0 {
			t.Fatalf("after the first failure: %+v", st)
		}
		if p := r.problem("ipv4", "read"); p == nil || !errors.Is(p.Err, os.ErrDeadlineExceeded) {
			t.Fatalf("Problems %v: no current ipv4 read failure", r.u.Problems())
		}
		// The other family goes on during the episode.
		r.v6.deliver("v6 meanwhile")
		synctest.Wait()
		if got := r.recv(t); got != "v6 meanwhile" {
			t.Fatalf("got %q", got)
		}

		// Reads at 0, 50, 150 and 350 ms fail; the reopen comes 400 ms
		// after the fourth (backoff 50 ms doubling), at 750 ms.
		time.Sleep(750*time.Millisecond - time.Nanosecond)
		synctest.Wait()
		if st := r.u.Stats(); st.ReadErrors != reopenAfter || len(r.reopened()) != 0 {
			t.Fatalf("at 750ms−: %+v, %d opens (want %d read errors, none)", st, len(r.reopened()), reopenAfter)
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		opened := r.reopened()
		if len(opened) != 1 || !opened[0].isV4 {
			t.Fatalf("at %v: %d sockets opened, want one IPv4", time.Since(start), len(opened))
		}
		if got := opened[0].joins; len(got) != 1 || got[0] != 2 {
			t.Errorf("the new socket joined on %v, want [2] (lan0)", got)
		}
		if !r.v4.isClosed() || r.v6.isClosed() {
			t.Errorf("old IPv4 closed %v (want true), IPv6 closed %v (want false)", r.v4.isClosed(), r.v6.isClosed())
		}
		if st := r.u.Stats(); st.Reopens != 1 || st.ReopenFailures != 0 {
			t.Errorf("Stats %+v, want 1 reopen", st)
		}
		if p := r.problem("ipv4", "read"); p != nil {
			t.Errorf("failure still listed after the reopen: %v", p)
		}
		if n := r.logs.count(slog.LevelWarn, "read failed"); n != 1 {
			t.Errorf("%d Warn logs for the episode, want 1", n)
		}

		// The new socket is the one read and written.
		opened[0].deliver("v4 again")
		synctest.Wait()
		if got := r.recv(t); got != "v4 again" {
			t.Fatalf("got %q", got)
		}
		if err := r.u.WritePacket(&Packet{Data: []byte("q"), Dst: GroupV4, IfIndex: 2}); err != nil || opened[0].writes != 1 {
			t.Fatalf("write after reopen: %v, %d writes on the new socket", err, opened[0].writes)
		}
		if n := r.logs.count(slog.LevelInfo, "reads work again"); n != 1 {
			t.Errorf("%d recovery logs, want 1", n)
		}

		// A failure long after is a new episode: warned again, backoff
		// from the start (reopen 750 ms later, not after 5 s).
		time.Sleep(time.Minute)
		opened[0].fail(os.ErrDeadlineExceeded)
		synctest.Wait()
		if n := r.logs.count(slog.LevelWarn, "read failed"); n != 2 {
			t.Errorf("%d Warn logs after the second episode started, want 2", n)
		}
		time.Sleep(750 * time.Millisecond)
		synctest.Wait()
		if len(r.reopened()) != 2 {
			t.Errorf("second episode: %d opens in all, want 2", len(r.reopened()))
		}
	})
}

func TestReopenWhenSocketGoneWithBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig()
		defer r.u.Close()
		errNoBufs := errors.New("no buffer space")
		r.openErrs = []error{errNoBufs, errNoBufs}
		r.v4.close() // closed under the Conn: reads fail with net.ErrClosed
		synctest.Wait()

		// A send meanwhile fails (the socket is closed) but is not
		// ErrClosed: the Conn is open, and the error is counted.
		err := r.u.WritePacket(&Packet{Data: []byte("q"), Dst: GroupV4, IfIndex: 2})
		if err == nil || errors.Is(err, ErrClosed) {
			t.Errorf("write on the broken socket: %v, want a plain error", err)
		}
		if st := r.u.Stats(); st.WriteErrors != 1 {
			t.Errorf("WriteErrors %d, want 1", st.WriteErrors)
		}

		// A gone socket is reopened after the first delay; the two
		// failed opens are retried 100 and 200 ms later.
		time.Sleep(50 * time.Millisecond)
		synctest.Wait()
		if p := r.problem("ipv4", "reopen"); p == nil || !errors.Is(p.Err, errNoBufs) {
			t.Fatalf("after a failed reopen, Problems %v", r.u.Problems())
		}
		if st := r.u.Stats(); st.ReopenFailures != 1 || st.Reopens != 0 {
			t.Fatalf("at 50ms: %+v", st)
		}
		time.Sleep(100 * time.Millisecond)
		synctest.Wait()
		if st := r.u.Stats(); st.ReopenFailures != 2 || st.Reopens != 0 {
			t.Fatalf("at 150ms: %+v", st)
		}
		time.Sleep(200*time.Millisecond - time.Nanosecond)
		synctest.Wait()
		if len(r.reopened()) != 0 {
			t.Fatal("reopened before 350ms")
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		if st := r.u.Stats(); st.Reopens != 1 || st.ReadErrors != 3 || len(r.reopened()) != 1 {
			t.Fatalf("at 350ms: %+v, %d opens", st, len(r.reopened()))
		}
		if ps := r.u.Problems(); len(ps) != 0 {
			t.Errorf("Problems after the reopen: %v", ps)
		}
		if n := r.logs.count(slog.LevelWarn, "reopening the socket failed"); n != 2 {
			t.Errorf("%d reopen failure logs, want 2", n)
		}
		r.reopened()[0].deliver("back")
		synctest.Wait()
		if got := r.recv(t); got != "back" {
			t.Fatalf("got %q", got)
		}
	})
}

func TestCloseWhileRecovering(t *testing.T) {
	t.Run("backing off", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			r := newRig()
			r.v4.fail(os.ErrDeadlineExceeded)
			time.Sleep(10 * time.Millisecond)
			start := time.Now()
			if err := r.u.Close(); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d != 0 {
				t.Errorf("Close took %v of backoff", d)
			}
			if !r.v6.isClosed() || len(r.reopened()) != 0 {
				t.Errorf("IPv6 closed %v, %d opens", r.v6.isClosed(), len(r.reopened()))
			}
			if err := r.view.ReadPacket(make([]byte, 10), &Packet{}); !errors.Is(err, ErrClosed) {
				t.Errorf("ReadPacket after Close: %v", err)
			}
		})
	})
	t.Run("reopening", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			r := newRig()
			gate := make(chan struct{})
			r.gate = gate
			r.v6.close()
			time.Sleep(50 * time.Millisecond)
			synctest.Wait() // the reader is in open, waiting for the gate
			closed := make(chan error, 1)
			go func() { closed <- r.u.Close() }()
			synctest.Wait()
			select {
			case <-closed:
				t.Fatal("Close returned while the reader was still reopening")
			default:
			}
			close(gate)
			if err := <-closed; err != nil {
				t.Fatal(err)
			}
			opened := r.reopened()
			if len(opened) != 1 || !opened[0].isClosed() {
				t.Fatalf("the socket opened during Close was not closed: %d opened", len(opened))
			}
			if st := r.u.Stats(); st.Reopens != 0 {
				t.Errorf("Reopens %d after Close won", st.Reopens)
			}
			if r.u.sockAt(1) != r.v6 {
				t.Error("a socket was installed after Close")
			}
		})
	})
}
