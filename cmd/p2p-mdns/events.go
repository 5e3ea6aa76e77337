package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
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

// peerEvent is one object of the stable event format. The field order is
// the order of the JSON keys; File and Error appear only when set.
type peerEvent struct {
	Event   string   `json:"event"`
	ID      string   `json:"id"`
	Addrs   []string `json:"addrs"`
	Flavour string   `json:"flavour"`
	T       float64  `json:"t"`
	// File is the capture an event comes from (replay only).
	File string `json:"file,omitempty"`
	// Error is why a dial failed (dial_failed only).
	Error string `json:"error,omitempty"`
}

// eventWriter prints peer events, as a table (one line per event: T, EVENT,
// ID, FLAVOUR, then the addresses) or as JSON lines. It knows nothing of the
// browser or dialer types, so every subcommand can share it. It is not safe
// for concurrent use.
type eventWriter struct {
	w       io.Writer
	jsonOut bool
	file    string // added to every JSON object when set (replay)
	enc     *json.Encoder
	lineBuf strings.Builder
}

func newEventWriter(w io.Writer, jsonOut bool) *eventWriter {
	ew := &eventWriter{w: w, jsonOut: jsonOut}
	if jsonOut {
		ew.enc = json.NewEncoder(w)
		ew.enc.SetEscapeHTML(false)
	}
	return ew
}

// emit prints one event; t is in seconds (since the start of the command,
// or of the capture for replay). addrs may be nil; flavour may be "".
func (w *eventWriter) emit(kind string, id peer.ID, addrs []ma.Multiaddr, flavour string, t float64) error {
	ev := peerEvent{Event: kind, Flavour: flavour, T: t, Addrs: make([]string, 0, len(addrs))}
	if id != "" {
		ev.ID = id.String()
	}
	for _, a := range addrs {
		ev.Addrs = append(ev.Addrs, a.String())
	}
	return w.write(ev)
}

// emitError prints a dial_failed-like event carrying an error.
func (w *eventWriter) emitError(kind string, id peer.ID, addrs []ma.Multiaddr, flavour string, t float64, err error) error {
	ev := peerEvent{Event: kind, Flavour: flavour, T: t, Addrs: make([]string, 0, len(addrs))}
	if id != "" {
		ev.ID = id.String()
	}
	for _, a := range addrs {
		ev.Addrs = append(ev.Addrs, a.String())
	}
	if err != nil {
		ev.Error = err.Error()
	}
	return w.write(ev)
}

// header prints a comment line in table mode (nothing in JSON mode).
func (w *eventWriter) header(format string, args ...any) error {
	if w.jsonOut {
		return nil
	}
	_, err := fmt.Fprintf(w.w, "# "+format+"\n", args...)
	return err
}

func (w *eventWriter) write(ev peerEvent) error {
	if w.file != "" {
		ev.File = w.file
	}
	if w.jsonOut {
		return w.enc.Encode(ev)
	}
	b := &w.lineBuf
	b.Reset()
	fmt.Fprintf(b, "%10.3f  %-11s  %-52s  %-5s", ev.T, ev.Event, orDash(ev.ID), orDash(ev.Flavour))
	for _, a := range ev.Addrs {
		b.WriteString("  ")
		b.WriteString(a)
	}
	if ev.Error != "" {
		b.WriteString("  error=")
		b.WriteString(strconv.Quote(ev.Error))
	}
	b.WriteByte('\n')
	_, err := io.WriteString(w.w, b.String())
	return err
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
