package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/chorus-services/discovery/internal/sniff"
	"github.com/chorus-services/discovery/mdns"
	"github.com/chorus-services/discovery/mdns/transport"
)

// onceDuration is how long `browse --once` listens without --duration:
// the browser's queries go out at ~0, 1 and 3 s (RFC 6762 §5.2) and
// answers come within 120 ms (§6).
const onceDuration = 3 * time.Second

// maxTallied bounds the instance names the tally keeps per service and the
// services it keeps.
const maxTallied = 256

// ignored is what `browse --once` heard besides the libp2p peers of its
// service: instances of the service without a libp2p peer, instances of
// other DNS-SD services, and libp2p peers announced under other tags.
type ignored struct {
	Service string `json:"service"`
	// NonLibp2p are the instances of Service whose records carry no libp2p
	// peer (no dnsaddr=…/p2p/<id> TXT string).
	NonLibp2p []string `json:"non_libp2p"`
	// OtherServices counts the instances heard per other service.
	OtherServices map[string]int `json:"other_services"`
	// OtherTags counts the libp2p peers heard per other service tag.
	OtherTags map[string]int `json:"other_tags"`
}

// tally reads the sockets through a View of its own and notes every
// service instance and libp2p peer named in the responses heard.
type tally struct {
	service string
	view    *transport.View
	done    chan struct{}
	// browsed says whether a service is browsed (nil: only service);
	// onLibp2p is told, on the tally's goroutine, of every service whose
	// responses first name a libp2p peer; enum, when set, asks for the
	// instances of every service type heard. Set before the first packet.
	browsed  func(string) bool
	onLibp2p func(service string)
	enum     *sniff.Enumerator

	mu        sync.Mutex
	instances map[string]map[string]bool // service → instance → libp2p
	peers     map[string]map[string]bool // service → peer IDs
	names     map[string]string          // service (lower case) → as first written
}

func newTally(service string, conn transport.Conn) (*tally, error) {
	v, err := conn.View(transport.ViewConfig{Name: "browse summary", QueueLen: 256})
	if err != nil {
		return nil, err
	}
	t := &tally{service: strings.ToLower(service), view: v, done: make(chan struct{}),
		instances: map[string]map[string]bool{}, peers: map[string]map[string]bool{}, names: map[string]string{}}
	go t.read()
	return t, nil
}

func (t *tally) read() {
	defer close(t.done)
	s := sniff.New(t.service)
	for p := range t.view.Packets() {
		r := s.Describe(p, 0, "")
		if r.Kind != "response" {
			continue
		}
		if t.enum != nil {
			t.enum.Heard(&r)
		}
		for _, svc := range t.note(&r) {
			if t.onLibp2p != nil {
				t.onLibp2p(svc)
			}
		}
	}
}

// note records a response's instances and peers; it returns the services
// that it names a libp2p peer of for the first time.
func (t *tally) note(r *sniff.Report) (newLibp2p []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, rec := range r.Records {
		svc := t.name(rec.Name)
		// Services only: not the meta-query, not reverse-mapping PTRs (in-addr.arpa).
		if rec.Type != "PTR" || rec.Section == "qd" || rec.TTL == 0 || mdns.EqualNames(svc, mdns.MetaQuery) || !strings.HasSuffix(svc, "."+mdns.Domain) {
			continue
		}
		m, _ := setIn(t.instances, svc)
		if m == nil {
			continue
		}
		inst := strings.ToLower(strings.TrimSpace(rec.Data))
		if _, ok := m[inst]; !ok && len(m) < maxTallied {
			m[inst] = false
		}
	}
	for _, p := range r.Peers {
		svc := t.name(p.Service)
		if m := t.instances[svc]; m != nil {
			if _, ok := m[strings.ToLower(p.Instance)]; ok {
				m[strings.ToLower(p.Instance)] = true
			}
		}
		ids, created := setIn(t.peers, svc)
		if ids == nil {
			continue
		}
		if created {
			newLibp2p = append(newLibp2p, t.names[svc])
		}
		if len(ids) < maxTallied {
			ids[p.ID] = true
		}
	}
	return newLibp2p
}

// setIn returns sets[key], created (and created true) if sets holds fewer
// than maxTallied keys; nil if the key is new and sets is full.
func setIn(sets map[string]map[string]bool, key string) (set map[string]bool, created bool) {
	if set = sets[key]; set == nil && len(sets) < maxTallied {
		set, created = map[string]bool{}, true
		sets[key] = set
	}
	return set, created
}

// name returns the key of a service name, remembering how it was written
// (t.mu held).
func (t *tally) name(svc string) string {
	key := strings.ToLower(svc)
	if _, ok := t.names[key]; !ok && len(t.names) < maxTallied {
		t.names[key] = svc
	}
	return key
}

// stop closes the tally's View and returns what was ignored.
func (t *tally) stop() ignored {
	t.view.Close()
	<-t.done
	t.mu.Lock()
	defer t.mu.Unlock()
	ig := ignored{Service: t.service, NonLibp2p: []string{}, OtherServices: map[string]int{}, OtherTags: map[string]int{}}
	browsed := func(svc string) bool { return svc == t.service || (t.browsed != nil && t.browsed(svc)) }
	for svc, insts := range t.instances {
		for inst, libp2p := range insts {
			switch {
			case libp2p:
			case browsed(svc):
				label, _ := mdns.ChildLabel(inst, svc)
				ig.NonLibp2p = append(ig.NonLibp2p, orDash(label))
			case len(t.peers[svc]) == 0:
				ig.OtherServices[t.names[svc]]++
			}
		}
	}
	for svc, ids := range t.peers {
		if !browsed(svc) {
			ig.OtherTags[mdns.ServiceTag(t.names[svc])] = len(ids)
		}
	}
	slices.Sort(ig.NonLibp2p)
	return ig
}

// printOnce prints the table of `browse --once`: the peers the browser
// knows at the end, then what it ignored.
func printOnce(out *eventWriter, set *browseSet, ig ignored, t float64) error {
	peers := set.peers()
	slices.SortFunc(peers, func(a, b taggedPeer) int { return strings.Compare(a.ID.String(), b.ID.String()) })
	tags := make([]string, 0, len(set.services()))
	for _, svc := range set.services() {
		tags = append(tags, tagOf(svc))
	}
	if err := out.comment("%d libp2p peer(s) of %s after %.1fs", len(peers), strings.Join(tags, ", "), t); err != nil {
		return err
	}
	for _, ai := range peers {
		ev := newEvent("peer", ai.ID, ai.Addrs, "", t)
		ev.Tag = tagOf(ai.service)
		if k, ok := out.known[ev.ID]; ok {
			ev.Flavour = k.Flavour
		}
		if err := out.emit(ev); err != nil {
			return err
		}
	}
	if out.jsonOut {
		return out.enc.Encode(struct {
			Event string  `json:"event"`
			T     float64 `json:"t"`
			ignored
		}{"ignored", t, ig})
	}
	if len(ig.NonLibp2p) > 0 {
		if err := out.comment("ignored: %d instance(s) of %s without a libp2p peer ID: %s", len(ig.NonLibp2p), ig.Service, strings.Join(ig.NonLibp2p, ", ")); err != nil {
			return err
		}
	}
	if len(ig.OtherServices) > 0 {
		var parts []string
		n := 0
		for _, svc := range slices.Sorted(maps.Keys(ig.OtherServices)) {
			parts = append(parts, fmt.Sprintf("%s (%d)", svc, ig.OtherServices[svc]))
			n += ig.OtherServices[svc]
		}
		if err := out.comment("ignored: %d instance(s) of other DNS-SD services: %s", n, strings.Join(parts, ", ")); err != nil {
			return err
		}
	}
	for _, tag := range slices.Sorted(maps.Keys(ig.OtherTags)) {
		if err := out.comment("heard %d libp2p peer(s) under the tag %s: to see them, use --service %s", ig.OtherTags[tag], tag, tag); err != nil {
			return err
		}
	}
	return nil
}
