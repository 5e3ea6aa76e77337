package transport_test

import (
	"log/slog"
	"os"

	"github.com/chorus-services/discovery/mdns"
	"github.com/chorus-services/discovery/mdns/transport"
)

// Example shows the life of a UDP Conn: listen on the chosen interfaces,
// take a View with a prefilter, read its packets and interface events in
// one loop, and answer on the interface a packet came from. The Conn
// follows interface changes itself: an event arrives after the sockets
// were refreshed. (Compile-only: running it needs port 5353 and a network.)
func Example() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	conn, err := transport.Listen(transport.Config{
		Interfaces: []string{"eth0"}, // empty: every up multicast interface
		Logger:     log,
	})
	if err != nil {
		log.Error("listen", "err", err)
		return
	}
	defer conn.Close() // we opened it, we close it
	for _, p := range conn.Problems() {
		log.Warn("partly working", "problem", p.String())
	}

	view, err := conn.View(transport.ViewConfig{
		Name: "example",
		// RFC 6762 §11: a packet not sent with TTL 255 is not from the local link.
		Accept: func(p *transport.Packet) bool { return p.TTL == -1 || p.TTL == 255 },
	})
	if err != nil {
		log.Error("view", "err", err)
		return
	}
	defer view.Close()
	for {
		select {
		case p, ok := <-view.Packets():
			if !ok {
				return
			}
			// … decode p.Data (read-only: other Views share it), then
			// answer on the interface it came from:
			reply := transport.Packet{Data: p.Data[:min(len(p.Data), mdns.MaxPacketSize)],
				Dst: transport.Group(p.Src.Addr()), IfIndex: p.IfIndex}
			_ = view.WritePacket(&reply)
		case ev := <-view.Events():
			// Interfaces() already reflects the change: probe and
			// announce again where it calls for it (RFC 6762 §13).
			log.Info("interface changed", "kind", ev.Kind.String(), "iface", ev.IfName, "now", len(view.Interfaces()))
		}
	}
}
