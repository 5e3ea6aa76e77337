package transport

import (
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	"github.com/chorus-services/discovery/mdns"
)

// How a family's reader recovers from a failing socket.
//
// A read error other than our own Close starts an episode: the failure is
// counted (Stats.ReadErrors), logged at Warn once, and listed by Problems
// (step "read"). The reader then waits, 50 ms doubling to 5 s, before each
// next attempt, so that a persistent error cannot spin. The socket is closed
// and opened again — bound to 5353 with the same options and joined to the
// group on every interface the family was joined on (RFC 6762 §5) — when
// the error says the socket itself is gone (closed under us, EBADF,
// ENOTSOCK, ECONNABORTED from a socket destroyed with SOCK_DESTROY) or after
// reopenAfter failed reads in a row. The new socket is opened before the
// old one is closed, so writes always find a socket; a reopen that fails is
// counted (Stats.ReopenFailures), listed (step "reopen") and retried after
// the next delay. The episode ends at the next successful read (logged at
// Info), or is forgotten after episodeGap without a failure. The other
// family is untouched throughout, and Close stops a reader that is waiting
// or reopening at once.
const (
	readBackoffMin = 50 * time.Millisecond
	readBackoffMax = 5 * time.Second
	// reopenAfter failed reads in a row (since the last reopen) make the
	// reader reopen a socket whose errors do not say it is gone: with the
	// delays above, after 750 ms of failures.
	reopenAfter = 4
	// episodeGap without a failure ends an episode even when no datagram
	// came to prove the socket healthy: the next failure is a new episode
	// (logged again, backoff from the start).
	episodeGap = 2 * readBackoffMax
)

// episode is one family reader's run of failures.
type episode struct {
	active bool
	start  time.Time
	last   time.Time     // last failure
	fails  int           // failed reads since the episode start or the last reopen
	total  int           // failed reads in the episode
	delay  time.Duration // next wait
	// reopenFailed: the last reopen failed; its failure, not the read's,
	// stays listed by Problems until a reopen works.
	reopenFailed bool
}

func (u *UDP) sockAt(fi int) famSock {
	u.sockMu.RLock()
	defer u.sockMu.RUnlock()
	return u.socks[fi]
}

// readLoop reads one family's socket until Close. A full queue drops the
// new datagram; no goroutine is started per packet.
func (u *UDP) readLoop(fi int) {
	defer u.wg.Done()
	v4 := fi == 0
	var ep episode
	rb := &rxBuf{b: make([]byte, rxBufSize)}
	var p Packet
	for {
		s := u.sockAt(fi)
		n, err := s.read(rb.b, &rb.meta)
		if err != nil {
			if u.closed() || !u.readFailed(fi, s, err, &ep) {
				return
			}
			continue
		}
		if ep.active {
			u.log.Info("reads work again", "family", familyName(v4),
				"failed_reads", ep.total, "after", time.Since(ep.start).Round(time.Millisecond))
			u.setFailure(fi, nil)
			ep = episode{}
		}
		if n > mdns.MaxPacketSize {
			u.oversize.Add(1)
			continue
		}
		rb.n, rb.v4 = n, v4
		if !u.accept(rb) {
			u.foreign.Add(1)
			continue
		}
		u.received.Add(1)
		m := &rb.meta
		p = Packet{
			Data:      rb.b[:n],
			Src:       m.src,
			Dst:       netipAddrPort(m.dst, mdns.Port),
			IfIndex:   m.ifIndex,
			TTL:       m.ttl,
			Multicast: m.dst.IsMulticast(),
		}
		if _, dropped := u.hub.Deliver(&p, false); dropped > 0 {
			u.dropped.Add(uint64(dropped))
		}
	}
}

// readFailed handles one failed read of socket s: it counts and reports
// the failure, waits the backoff delay and reopens the socket when due. It
// returns false when the Conn was closed meanwhile.
func (u *UDP) readFailed(fi int, s famSock, err error, ep *episode) bool {
	fam := familyName(fi == 0)
	u.readErrs.Add(1)
	now := time.Now()
	if !ep.active || now.Sub(ep.last) > episodeGap {
		*ep = episode{active: true, start: now, delay: readBackoffMin}
		u.log.Warn("read failed; retrying with backoff, the socket is reopened if this persists",
			"family", fam, "err", err)
	}
	ep.last = now
	ep.fails++
	ep.total++
	if !ep.reopenFailed {
		u.setFailure(fi, &Problem{Family: fam, Step: "read", Err: err})
	}

	if !u.sleep(ep.delay) {
		return false
	}
	ep.delay = min(2*ep.delay, readBackoffMax)
	if !socketGone(err) && ep.fails < reopenAfter {
		return true
	}
	ep.fails = 0
	rerr := u.reopen(fi, s)
	ep.reopenFailed = rerr != nil
	switch {
	case errors.Is(rerr, ErrClosed):
		return false
	case rerr != nil:
		u.reopenFails.Add(1)
		u.setFailure(fi, &Problem{Family: fam, Step: "reopen", Err: rerr})
		u.log.Warn("reopening the socket failed; retrying", "family", fam, "err", rerr, "in", ep.delay)
	default:
		u.log.Info("socket reopened", "family", fam, "after", time.Since(ep.start).Round(time.Millisecond),
			"failed_reads", ep.total)
	}
	return true
}

// socketGone reports whether a read error says that the socket itself is
// unusable, so that retrying reads cannot help.
func socketGone(err error) bool {
	return errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.EBADF) ||
		errors.Is(err, syscall.ENOTSOCK) || errors.Is(err, syscall.ECONNABORTED)
}

// sleep waits d, or returns false at Close.
func (u *UDP) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-u.done:
		return false
	case <-t.C:
		return true
	}
}

func (u *UDP) setFailure(fi int, p *Problem) {
	u.mu.Lock()
	u.failProb[fi] = p
	u.mu.Unlock()
}

// reopen replaces the family's socket old by a new one: bound to the mDNS
// port with the same options (in the namespace the Conn was opened in),
// joined to the group on every interface the family was joined on
// (RFC 6762 §5). It runs under refreshMu, so that no Refresh joins or leaves
// on a socket about to be replaced. It returns ErrClosed when Close came
// first; the new socket is then closed.
func (u *UDP) reopen(fi int, old famSock) error {
	v4 := fi == 0
	u.refreshMu.Lock()
	defer u.refreshMu.Unlock()
	if u.closed() {
		return ErrClosed
	}
	var (
		s     famSock
		probs []Problem
	)
	if err := u.ns.do(func() error {
		var err error
		s, probs, err = u.open(v4)
		return err
	}); err != nil {
		return fmt.Errorf("open: %w", err)
	}
	for _, p := range probs {
		u.log.Warn("problem on the reopened socket", "family", p.Family, "step", p.Step, "err", p.Err)
	}
	failed, err := u.rejoin(s, v4)
	if err != nil {
		_ = s.close()
		return err
	}
	u.sockMu.Lock()
	if u.closed() {
		u.sockMu.Unlock()
		_ = s.close()
		return ErrClosed
	}
	u.socks[fi] = s
	u.sockMu.Unlock()
	_ = old.close() // it failed; its error says nothing new
	u.mu.Lock()
	for _, p := range failed {
		u.dropFamily(p, v4)
	}
	u.failProb[fi] = nil
	u.mu.Unlock()
	u.reopens.Add(1)
	return nil
}

// rejoin joins the family's group with the new socket s on every
// interface the family used. It returns the joins that failed, and an
// error when all of them did.
func (u *UDP) rejoin(s famSock, v4 bool) ([]Problem, error) {
	u.mu.RLock()
	var was []Interface
	for _, ifc := range u.ifs {
		if (v4 && ifc.V4) || (!v4 && ifc.V6) {
			was = append(was, cloneInterface(ifc))
		}
	}
	u.mu.RUnlock()
	var failed []Problem
	for i := range was {
		if err := s.join(netInterface(&was[i])); err != nil {
			failed = append(failed, Problem{Interface: was[i].Name, Family: familyName(v4), Step: "join", Err: err})
		}
	}
	if len(was) > 0 && len(failed) == len(was) {
		return nil, fmt.Errorf("rejoin the group: %w", failed[0].Err)
	}
	return failed, nil
}

// dropFamily takes the family off the interface on which the group could
// not be joined again (p), until a Refresh manages to join it. u.mu is
// held.
func (u *UDP) dropFamily(p Problem, v4 bool) {
	for idx, ifc := range u.ifs {
		if ifc.Name != p.Interface {
			continue
		}
		c := cloneInterface(ifc)
		if v4 {
			c.V4 = false
		} else {
			c.V6 = false
		}
		if c.V4 || c.V6 {
			u.ifs[idx] = &c
		} else {
			delete(u.ifs, idx)
		}
	}
	u.ifProb = append(u.ifProb, p)
	u.log.Warn("cannot join group again", "interface", p.Interface, "family", p.Family, "err", p.Err)
}
