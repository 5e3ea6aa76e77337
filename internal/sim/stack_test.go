package sim

import (
	"context"
	"errors"
	"math/rand/v2"
	"reflect"
	"sync"

	"github.com/chorus-services/discovery/browser"
	"github.com/chorus-services/discovery/responder"
)

// mdnsNode is our protocol stack as the facade wires it, without a libp2p
// host: one Conn shared by a responder and a browser, each through a View
// of its own.
type mdnsNode struct {
	resp   *responder.Responder
	brow   *browser.Browser
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// mdnsStack is the Stack of the simulations: the repository's responder
// and browser with their defaults, queues sized by Params.QueueLen.
func mdnsStack(cfg NodeConfig) (Node, error) { return newMDNSNode(cfg, *flagStrictProbes) }

// newMDNSNode starts one node; strict sets the browser's IgnoreProbes (the
// facade's WithProbeHints(false)): peers are then found from their
// announcements only, not from their probes (nothing sent changes).
func newMDNSNode(cfg NodeConfig, strict bool) (Node, error) {
	resp, err := responder.New(responder.Config{
		Conn: cfg.Conn, PeerID: cfg.ID, Addrs: cfg.Addrs, QueueLen: cfg.QueueLen,
		TTLHost: cfg.TTLHost, TTLOther: cfg.TTLOther,
		Rand: rand.New(rand.NewPCG(cfg.Seed, 1)),
	})
	if err != nil {
		return nil, err
	}
	brow, err := browser.New(browser.Config{
		Conn: cfg.Conn, Self: cfg.ID, ReceiveQueue: cfg.QueueLen, EventQueue: cfg.QueueLen,
		MaxPeers: max(browser.DefaultMaxPeers, 2*cfg.Nodes), MaxRecords: max(browser.DefaultMaxRecords, 8*cfg.Nodes),
		Rand: rand.New(rand.NewPCG(cfg.Seed, 2)), IgnoreProbes: strict,
	})
	if err != nil {
		resp.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &mdnsNode{resp: resp, brow: brow, cancel: cancel}
	n.wg.Go(func() { _ = resp.Run(ctx) })
	n.wg.Go(func() { _ = brow.Run(ctx) })
	n.wg.Go(func() {
		for ev := range brow.Events() {
			switch ev.Kind {
			case browser.Found:
				cfg.Found(ev.Peer.ID, ev.Time)
			case browser.Lost:
				cfg.Lost(ev.Peer.ID, ev.Time)
			}
		}
	})
	return n, nil
}

func (n *mdnsNode) Stats() map[string]uint64 {
	out := map[string]uint64{}
	addFields(out, "responder.", n.resp.Stats())
	addFields(out, "browser.", n.brow.Stats())
	return out
}

// Close stops the browser first (its peers' goodbyes no longer concern
// it), then the responder, which says goodbye (RFC 6762 §10.1).
func (n *mdnsNode) Close() error {
	err := errors.Join(n.brow.Close(), n.resp.Close())
	n.cancel()
	n.wg.Wait()
	return err
}

// addFields adds the unsigned integer fields of a Stats struct.
func addFields(out map[string]uint64, prefix string, s any) {
	v := reflect.ValueOf(s)
	for i := range v.NumField() {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.Uint64:
			out[prefix+v.Type().Field(i).Name] = f.Uint()
		case reflect.Int:
			out[prefix+v.Type().Field(i).Name] = uint64(max(f.Int(), 0))
		}
	}
}
