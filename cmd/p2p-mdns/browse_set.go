package main

import (
	"context"
	"log/slog"
	"strings"
	"sync"

	"github.com/chorus-services/discovery/browser"
	"github.com/chorus-services/discovery/mdns"
	"github.com/chorus-services/discovery/mdns/transport"
	"github.com/libp2p/go-libp2p/core/peer"
)

// maxBrowsed bounds the service tags browse follows at once.
const maxBrowsed = 16

// browseSet runs one browser per libp2p service tag on one Conn (each
// reads it through a View of its own) and merges their events, each
// tagged with its service. browse without --service adds a browser for
// every service whose responses carry libp2p peers (heard, or found by
// enumerating the service types, RFC 6763 §9): an application using
// another tag than the one asked for is seen, with its tag.
type browseSet struct {
	ctx  context.Context
	conn transport.Conn
	log  *slog.Logger

	mu       sync.Mutex
	closed   bool
	browsers map[string]*browser.Browser // by lower-case service name
	order    []string
	wg       sync.WaitGroup
	events   chan taggedEvent
}

type taggedEvent struct {
	service string
	ev      browser.Event
}

func newBrowseSet(ctx context.Context, conn transport.Conn, log *slog.Logger) *browseSet {
	return &browseSet{ctx: ctx, conn: conn, log: log, browsers: map[string]*browser.Browser{}, events: make(chan taggedEvent, 64)}
}

// add starts a browser for service unless one runs, the set is closed or
// full. It reports whether one was started.
func (s *browseSet) add(service string) bool {
	key := strings.ToLower(service)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.browsers[key] != nil || len(s.browsers) >= maxBrowsed {
		return false
	}
	b, err := browser.New(browser.Config{Conn: s.conn, Service: service, Logger: s.log})
	if err != nil {
		s.log.Warn("cannot browse", "service", service, "err", err)
		return false
	}
	s.browsers[key] = b
	s.order = append(s.order, key)
	s.log.Info("browsing", "service", service)
	s.wg.Go(func() {
		if err := b.Run(s.ctx); err != nil {
			s.log.Warn("browser stopped", "service", service, "err", err)
		}
	})
	s.wg.Go(func() {
		for ev := range b.Events() { // closed when Run returns
			s.events <- taggedEvent{service: b.Service(), ev: ev}
		}
	})
	return true
}

// has reports whether service is browsed.
func (s *browseSet) has(service string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.browsers[strings.ToLower(service)] != nil
}

// wait refuses further browsers, waits for the running ones to end (their
// context ends them) and closes the event channel.
func (s *browseSet) wait() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.wg.Wait()
	close(s.events)
}

// taggedPeer is a peer known by one of the browsers.
type taggedPeer struct {
	peer.AddrInfo
	service string
}

// peers returns the peers every browser knows, by service in the order
// the browsers were started.
func (s *browseSet) peers() []taggedPeer {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []taggedPeer
	for _, key := range s.order {
		b := s.browsers[key]
		for _, ai := range b.Peers() {
			out = append(out, taggedPeer{ai, b.Service()})
		}
	}
	return out
}

// services returns the names of the services browsed.
func (s *browseSet) services() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.order))
	for _, key := range s.order {
		out = append(out, s.browsers[key].Service())
	}
	return out
}

// stats sums the browsers' counters.
func (s *browseSet) stats() (peers, found, lost int, queries, responses uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range s.browsers {
		st := b.Stats()
		peers, found, lost = peers+st.Peers, found+int(st.PeersFound), lost+int(st.PeersLost)
		queries, responses = queries+st.QueriesSent, responses+st.Responses
	}
	return
}

// tagOf is the tag shown for a service name.
func tagOf(service string) string { return mdns.ServiceTag(service) }
