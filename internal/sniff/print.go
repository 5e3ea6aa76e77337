package sniff

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Printer writes reports as a table or as JSON lines (one object per
// datagram).
type Printer struct {
	// Short shortens the table for a terminal: peer IDs to their first 4
	// and last 6 characters, at most two addresses per peer.
	Short bool

	w    io.Writer
	json bool
	enc  *json.Encoder
	head bool
}

// NewPrinter returns a printer writing to w.
func NewPrinter(w io.Writer, jsonLines bool) *Printer {
	p := &Printer{w: w, json: jsonLines}
	if jsonLines {
		p.enc = json.NewEncoder(w)
	}
	return p
}

// Print writes one report.
func (p *Printer) Print(r *Report) error {
	if p.json {
		return p.enc.Encode(r)
	}
	if !p.head {
		p.head = true
		if _, err := fmt.Fprintf(p.w, "%-9s %-9s %-28s %-8s %5s  %s\n", "T", "KIND", "SOURCE", "IFACE", "BYTES", "RECORDS"); err != nil {
			return err
		}
	}
	line := r.Summary()
	if r.Error != "" {
		line = strings.TrimSpace(line + " error: " + r.Error)
	}
	if _, err := fmt.Fprintf(p.w, "%-9.3f %-9s %-28s %-8s %5d  %s\n", r.T, r.Kind, r.Src, r.Iface, r.Size, line); err != nil {
		return err
	}
	for _, peer := range r.Peers {
		gb := ""
		if peer.TTL == 0 {
			gb = " (goodbye)"
		}
		id, addrs := peer.ID, peer.Addrs
		if p.Short && len(id) > 12 {
			id = id[:4] + "…" + id[len(id)-6:]
		}
		if p.Short && len(addrs) > 3 {
			addrs = append(addrs[:2:2], fmt.Sprintf("(+%d more, --wide)", len(peer.Addrs)-2))
		}
		if _, err := fmt.Fprintf(p.w, "%9s   peer %s [%s, tag %s]%s\n", "", id, peer.Flavour, peer.Tag, gb); err != nil {
			return err
		}
		for _, a := range addrs {
			if _, err := fmt.Fprintf(p.w, "%9s     %s\n", "", a); err != nil {
				return err
			}
		}
	}
	return nil
}
