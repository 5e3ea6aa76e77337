package discovery

import (
	"context"
	"errors"
	"io"
	"sync"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
)

// ServiceName is go-libp2p's default mDNS service tag, used by
// NewMdnsService for an empty name.
const ServiceName = "_p2p._udp"

// Service is what NewMdnsService returns: Start and Close as in
// go-libp2p's p2p/discovery/mdns, plus Metrics and Peers, which go-libp2p's
// lacks.
type Service interface {
	Start() error
	io.Closer
	// Metrics returns the discovery metrics (zero before Start).
	Metrics() DiscoveryMetrics
	// Peers returns the peers currently known (none before Start).
	Peers() []peer.AddrInfo
}

// Notifee is told about every peer found, as in go-libp2p's
// p2p/discovery/mdns.
type Notifee interface {
	HandlePeerFound(peer.AddrInfo)
}

// NotifeeFunc adapts a function to a Notifee:
//
//	svc := discovery.NewMdnsService(h, "", discovery.NotifeeFunc(func(ai peer.AddrInfo) { … }))
type NotifeeFunc func(peer.AddrInfo)

// HandlePeerFound calls f(ai).
func (f NotifeeFunc) HandlePeerFound(ai peer.AddrInfo) { f(ai) }

// NewMdnsService is a drop-in for github.com/libp2p/go-libp2p/p2p/discovery/mdns
// NewMdnsService: the same arguments (an empty serviceName means
// "_p2p._udp"), the same tag mapping and the same behaviour towards the
// notifee (HandlePeerFound for every peer found or updated, never for
// ourselves; no automatic connection). Switching is a one-line import
// change. Options may add what go-libp2p's lacks.
//
// HandlePeerFound is called on one goroutine, one peer at a time: a slow
// notifee delays the next peers but loses none (each waits with its latest
// addresses), so it should hand long work (such as a connection) to a
// goroutine of its own. Close does not wait for a call in progress; no
// call starts once Close has begun.
func NewMdnsService(h host.Host, serviceName string, notifee Notifee, opts ...Option) Service {
	if serviceName == "" {
		serviceName = ServiceName
	}
	return &mdnsService{host: h, tag: serviceName, notifee: notifee, opts: opts}
}

type mdnsService struct {
	host    host.Host
	tag     string
	notifee Notifee
	opts    []Option

	mu sync.Mutex
	d  *MDNSDiscovery
}

// Start begins announcing and browsing.
func (s *mdnsService) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.d != nil {
		return errors.New("discovery: mdns service already started")
	}
	o := defaultOptions()
	o.autoConnect = false
	for _, opt := range s.opts {
		if err := opt(&o); err != nil {
			return err
		}
	}
	o.notifee = s.notifee
	d, err := start(context.Background(), s.host, s.tag, o)
	if err != nil {
		return err
	}
	s.d = d
	return nil
}

// started returns the discovery Start made, or nil.
func (s *mdnsService) started() *MDNSDiscovery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.d
}

// Close stops discovery, sending goodbyes. Safe to call twice, and before
// Start.
func (s *mdnsService) Close() error {
	d := s.started()
	if d == nil {
		return nil
	}
	return d.Close()
}

// Metrics returns the metrics of the running discovery (zero before Start).
func (s *mdnsService) Metrics() DiscoveryMetrics {
	d := s.started()
	if d == nil {
		return DiscoveryMetrics{}
	}
	return d.Metrics()
}

// Peers returns the peers currently known (none before Start).
func (s *mdnsService) Peers() []peer.AddrInfo {
	d := s.started()
	if d == nil {
		return nil
	}
	return d.Peers()
}
