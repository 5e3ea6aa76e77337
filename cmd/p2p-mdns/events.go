package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// The event kinds of the stable event format (see the package
// documentation).
const (
	evSelf       = "self"
	evFound      = "found"
	evUpdated    = "updated"
	evLost       = "lost"
	evConnected  = "connected"
	evDialFailed = "dial_failed"
)

// flavourOurs is the flavour of this module's peers (mdns.FlavourDiscovery),
// also given to the self event; flavourUnknown is given to events of a peer
// whose records were never seen.
const (
	flavourOurs    = "discovery"
	flavourUnknown = "unknown"
)

// peerEvent is one object of the stable event format. The field order is
// the order of the JSON keys; File, Error, Reason and Direction appear only when set.
type peerEvent struct {
	Event   string   `json:"event"`
	ID      string   `json:"id"`
	Addrs   []string `json:"addrs"`
	Flavour string   `json:"flavour"`
	T       float64  `json:"t"`
	// File is the capture an event comes from (replay only).
	File string `json:"file,omitempty"`
	// Error is why a dial failed, Reason its class (dial_failed only).
	Error  string `json:"error,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Direction is who dialled: outbound (we) or inbound (connected only).
	Direction string `json:"direction,omitempty"`
	// Tag is the service tag the peer was found under (browse only).
	Tag string `json:"tag,omitempty"`
}

// newEvent builds an event; addrs may be nil.
func newEvent(kind string, id peer.ID, addrs []ma.Multiaddr, flavour string, t float64) peerEvent {
	ev := peerEvent{Event: kind, Flavour: flavour, T: t, Addrs: make([]string, 0, len(addrs))}
	if id != "" {
		ev.ID = id.String()
	}
	for _, a := range addrs {
		ev.Addrs = append(ev.Addrs, a.String())
	}
	return ev
}

// eventWriter prints peer events, as a table (a header, then one line per
// event: T, EVENT, PEER, FLAVOUR, then the addresses) or as JSON lines. It
// remembers the last addresses and flavour of every peer found, so that
// every event of a peer carries them (lost, connected and dial_failed
// included): one format for each kind wherever it comes from. In short
// mode (a terminal without --wide) IDs and address lists are shortened.
// It knows nothing of the browser or dialer types, so every subcommand can
// share it. It is not safe for concurrent use.
type eventWriter struct {
	w       io.Writer
	jsonOut bool
	short   bool
	file    string // added to every JSON object when set (replay)
	enc     *json.Encoder
	lineBuf strings.Builder
	header  bool // the table header was printed
	known   map[string]peerEvent
	// showTag adds a TAG column (browse: peers of every tag).
	showTag bool
}

// maxKnown bounds the peers the writer remembers (the browser bounds the
// peers it reports; this is a second guard).
const maxKnown = 4096

func newEventWriter(w io.Writer, jsonOut, short bool) *eventWriter {
	ew := &eventWriter{w: w, jsonOut: jsonOut, short: short && !jsonOut, known: map[string]peerEvent{}}
	if jsonOut {
		ew.enc = json.NewEncoder(w)
		ew.enc.SetEscapeHTML(false)
	}
	return ew
}

// emit prints one event, completing it from what is known of the peer.
func (w *eventWriter) emit(ev peerEvent) error {
	w.complete(&ev)
	if w.jsonOut {
		return w.enc.Encode(ev)
	}
	return w.writeLine(ev)
}

// complete notes what ev says of its peer and fills in what it lacks.
func (w *eventWriter) complete(evp *peerEvent) {
	ev := *evp
	defer func() { *evp = ev }()
	if w.file != "" {
		ev.File = w.file
	}
	last, seen := w.known[ev.ID]
	switch ev.Event {
	case evFound, evUpdated:
		if len(w.known) >= maxKnown && !seen {
			clear(w.known)
		}
		w.known[ev.ID] = ev
	case evLost:
		if len(ev.Addrs) == 0 && seen {
			ev.Addrs = last.Addrs
		}
		delete(w.known, ev.ID)
	}
	if ev.Flavour == "" || ev.Flavour == flavourUnknown {
		ev.Flavour = flavourUnknown
		if seen && last.Flavour != "" {
			ev.Flavour = last.Flavour
		}
	}
}

// comment prints a "# …" line in table mode (nothing in JSON mode).
func (w *eventWriter) comment(format string, args ...any) error {
	if w.jsonOut {
		return nil
	}
	_, err := fmt.Fprintf(w.w, "# "+format+"\n", args...)
	return err
}

// forget drops what is known of every peer (replay: a new capture).
func (w *eventWriter) forget() { clear(w.known) }

func (w *eventWriter) idWidth() int {
	if w.short {
		return 11
	}
	return 52
}

func (w *eventWriter) writeLine(ev peerEvent) error {
	b := &w.lineBuf
	b.Reset()
	if !w.header {
		w.header = true
		if w.showTag {
			fmt.Fprintf(b, "%10s  %-11s  %-*s  %-9s  %-21s  %s\n", "T", "EVENT", w.idWidth(), "PEER", "FLAVOUR", "TAG", "ADDRESSES")
		} else {
			fmt.Fprintf(b, "%10s  %-11s  %-*s  %-9s  %s\n", "T", "EVENT", w.idWidth(), "PEER", "FLAVOUR", "ADDRESSES")
		}
	}
	id := ev.ID
	if w.short {
		id = shortID(id)
	}
	fmt.Fprintf(b, "%10.3f  %-11s  %-*s  %-9s", ev.T, ev.Event, w.idWidth(), orDash(id), orDash(ev.Flavour))
	if w.showTag {
		fmt.Fprintf(b, "  %-21s", orDash(ev.Tag))
	}
	if ev.Event == evDialFailed {
		b.WriteString("  cause: ")
		b.WriteString(dialCause(ev.Reason, ev.Error))
		if !w.short && ev.Error != "" {
			fmt.Fprintf(b, "  error=%q", ev.Error)
		}
	} else {
		if ev.Direction != "" {
			b.WriteString("  " + ev.Direction)
		}
		writeAddrs(b, ev.Addrs, w.short)
	}
	b.WriteByte('\n')
	_, err := io.WriteString(w.w, b.String())
	return err
}

// shortAddrs is how many addresses a short line shows.
const shortAddrs = 2

func writeAddrs(b *strings.Builder, addrs []string, short bool) {
	n := len(addrs)
	if short && n > shortAddrs+1 {
		n = shortAddrs
	}
	if short { // the likeliest to be dialled first: IPv4, then TCP
		addrs = slices.Clone(addrs)
		rank := func(a string) int {
			r := 0
			if !strings.HasPrefix(a, "/ip4/") {
				r += 2
			}
			if !strings.Contains(a, "/tcp/") {
				r++
			}
			return r
		}
		slices.SortStableFunc(addrs, func(a, b string) int { return rank(a) - rank(b) })
	}
	for _, a := range addrs[:n] {
		b.WriteString("  ")
		b.WriteString(a)
	}
	if n < len(addrs) {
		fmt.Fprintf(b, "  (+%d more, --wide)", len(addrs)-n)
	}
}

// shortID shortens a peer ID as a terminal shows it: the first 4 and the
// last 6 characters (peer IDs of one key type share their first ones).
func shortID(id string) string {
	if len(id) <= 12 {
		return id
	}
	return id[:4] + "…" + id[len(id)-6:]
}

// dialCause is a short cause for a failed dial: its class (the dialer's
// reason) in plain words, with the last part of the error for unreachable
// peers (connection refused, no route to host, …).
func dialCause(reason, errText string) string {
	last := errText
	if i := strings.LastIndex(strings.TrimSpace(last), "\n"); i >= 0 {
		last = last[i+1:]
	}
	if i := strings.LastIndex(last, ": "); i >= 0 {
		last = last[i+2:]
	}
	last = strings.TrimSpace(last)
	if len(last) > 60 {
		last = last[:57] + "..."
	}
	switch reason {
	case "timeout":
		return "timed out"
	case "unreachable":
		if last != "" {
			return "unreachable (" + last + ")"
		}
		return "unreachable"
	case "identity":
		return "peer ID mismatch: the remote key is not the announced ID"
	case "handshake":
		return "security or muxer handshake failed"
	case "swarm-backoff":
		return "go-libp2p's dial backoff"
	case "canceled":
		return "canceled"
	}
	if last == "" {
		return "unknown"
	}
	return last
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
