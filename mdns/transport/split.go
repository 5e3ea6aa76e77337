package transport

import (
	"sync"
	"sync/atomic"
)

// Split shares one Conn between n readers, e.g. a responder and a browser
// on one set of sockets. With two sockets bound to port 5353 (SO_REUSEPORT)
// the kernel delivers every multicast datagram to both but each unicast
// datagram (a QU answer, RFC 6762 §5.4, or a unicast probe defence) to only
// one of them; a split Conn gives every reader every packet.
//
// Each child has a bounded queue of queueLen packets (≤ 0: 128); a packet
// that finds a child's queue full is dropped for that child and counted
// (SplitConn.Dropped). One goroutine reads the parent; writes, Interfaces
// and Refresh go straight to the parent. Closing a child ends its reads;
// the parent is closed, and the reading goroutine waited for, when the
// last child is closed.
func Split(parent Conn, n, queueLen int) []*SplitConn {
	if n < 1 {
		n = 1
	}
	if queueLen <= 0 {
		queueLen = 128
	}
	s := &splitter{parent: parent, open: int32(n), loopDone: make(chan struct{})}
	s.children = make([]*SplitConn, n)
	for i := range s.children {
		s.children[i] = &SplitConn{s: s, q: make(chan *Packet, queueLen), closed: make(chan struct{})}
	}
	go s.loop()
	return s.children
}

type splitter struct {
	parent   Conn
	children []*SplitConn
	open     int32
	loopDone chan struct{}
}

// loop reads the parent until it fails (it is closed when the last child
// is) and hands every packet to every open child.
func (s *splitter) loop() {
	defer close(s.loopDone)
	buf := make([]byte, 65536)
	for {
		var p Packet
		if err := s.parent.ReadPacket(buf, &p); err != nil {
			return
		}
		// One immutable copy shared by the children; each ReadPacket
		// copies it into the caller's buffer.
		p.Data = append([]byte(nil), p.Data...)
		for _, c := range s.children {
			select {
			case <-c.closed:
				continue
			default:
			}
			select {
			case c.q <- &p:
			default:
				c.dropped.Add(1)
			}
		}
	}
}

// SplitConn is one reader's view of a split Conn. It implements Conn.
type SplitConn struct {
	s       *splitter
	q       chan *Packet
	closed  chan struct{}
	once    sync.Once
	dropped atomic.Uint64
}

// ReadPacket returns the next packet, or ErrClosed after Close or when the
// parent failed.
func (c *SplitConn) ReadPacket(buf []byte, p *Packet) error {
	select {
	case sp := <-c.q:
		*p = *sp
		p.Data = buf[:copy(buf, sp.Data)]
		return nil
	case <-c.closed:
		return ErrClosed
	case <-c.s.loopDone:
		// Drain what arrived before the parent failed.
		select {
		case sp := <-c.q:
			*p = *sp
			p.Data = buf[:copy(buf, sp.Data)]
			return nil
		default:
			return ErrClosed
		}
	}
}

// WritePacket sends through the parent.
func (c *SplitConn) WritePacket(p *Packet) error {
	select {
	case <-c.closed:
		return ErrClosed
	default:
	}
	return c.s.parent.WritePacket(p)
}

// Interfaces returns the parent's interfaces.
func (c *SplitConn) Interfaces() []Interface { return c.s.parent.Interfaces() }

// Refresh re-enumerates the parent's interfaces when the parent can.
func (c *SplitConn) Refresh() error {
	if r, ok := c.s.parent.(interface{ Refresh() error }); ok {
		return r.Refresh()
	}
	return nil
}

// Dropped counts packets this child lost to a full queue.
func (c *SplitConn) Dropped() uint64 { return c.dropped.Load() }

// Close ends this child's reads; the last Close closes the parent and waits
// for the reading goroutine. Safe to call twice.
func (c *SplitConn) Close() error {
	var err error
	c.once.Do(func() {
		close(c.closed)
		if atomic.AddInt32(&c.s.open, -1) == 0 {
			err = c.s.parent.Close()
			<-c.s.loopDone
		}
	})
	return err
}
