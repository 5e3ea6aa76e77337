package transport_test

import (
	"context"
	"errors"
	"log/slog"
	"os"

	"github.com/chorus-services/discovery/mdns"
	"github.com/chorus-services/discovery/mdns/transport"
)

// Example shows the life of a UDP Conn: listen on the chosen interfaces,
// read packets in one goroutine, send on the interface a packet came from,
// and refresh the group memberships when the watcher reports a change.
// (Compile-only: running it needs port 5353 and a network.)
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
	defer conn.Close()
	for _, p := range conn.Problems() {
		log.Warn("partly working", "problem", p.String())
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := transport.NewWatcher(transport.WatcherConfig{Interfaces: []string{"eth0"}, Logger: log})
	if err != nil {
		log.Error("watcher", "err", err)
		return
	}
	go func() { _ = w.Run(ctx) }()
	go func() {
		for range w.Events() {
			_ = conn.Refresh() // then probe and announce again (RFC 6762 §13)
		}
	}()

	buf := make([]byte, mdns.MaxPacketSize)
	for {
		var p transport.Packet
		if err := conn.ReadPacket(buf, &p); err != nil {
			if errors.Is(err, transport.ErrClosed) {
				return
			}
			continue
		}
		if p.TTL != -1 && p.TTL != 255 {
			continue // RFC 6762 §11: not from the local link
		}
		// … decode p.Data, then answer on the interface it came from:
		reply := transport.Packet{Data: p.Data, Dst: transport.Group(p.Src.Addr()), IfIndex: p.IfIndex}
		_ = conn.WritePacket(&reply)
	}
}
