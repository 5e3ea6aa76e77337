//go:build linux

package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/chorus-services/discovery/internal/interop/rustwire"

	"github.com/chorus-services/discovery/mdns"
	"github.com/chorus-services/discovery/mdns/transport"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// rustlike is a rust-libp2p (libp2p-mdns 0.49) wire-format announcer, as
// described in mdns/doc.go and as browser/interop_netns_test.go
// TestFindsRustFormat runs it: IPv4, queries and answers from one
// ephemeral-port socket (multicast TTL left at the OS default 1), queries
// at 0, 1 and 3 s, an answer to every _p2p._udp.local query with a PTR to
// a new single random label and one TXT per address in the additional
// section. It runs inside a host namespace (started via ip netns exec) and
// prints a self event line.
func rustlike(args []string) int {
	fs := flag.NewFlagSet("rustlike", flag.ContinueOnError)
	src := fs.String("src", "", "IPv4 source address")
	var addrs stringList
	fs.Var(&addrs, "addr", "multiaddr (repeatable)")
	if err := fs.Parse(args); err != nil || *src == "" || len(addrs) == 0 {
		fmt.Fprintln(os.Stderr, "rustlike: --src IP --addr MULTIADDR...")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()

	sk, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		fmt.Fprintln(os.Stderr, "rustlike:", err)
		return 1
	}
	id, _ := peer.IDFromPrivateKey(sk)
	rx, err := transport.Listen(transport.Config{Interfaces: []string{"lan0"}, DisableIPv6: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, "rustlike:", err)
		return 1
	}
	defer rx.Close()
	tx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(*src)})
	if err != nil {
		fmt.Fprintln(os.Stderr, "rustlike:", err)
		return 1
	}
	defer tx.Close()
	group := &net.UDPAddr{IP: net.IPv4(224, 0, 0, 251), Port: 5353}
	line, _ := json.Marshal(event{Event: "self", ID: id.String(), Addrs: addrs})
	fmt.Println(string(line))

	go func() { // queries at 0, 1, 3 s, as rust-libp2p's first query backoff
		start := time.Now()
		for _, at := range []time.Duration{0, time.Second, 3 * time.Second} {
			select {
			case <-ctx.Done():
				return
			case <-time.After(at - time.Since(start)):
			}
			_, _ = tx.WriteToUDP(rustwire.Query(), group)
		}
	}()
	go func() {
		<-ctx.Done()
		rx.Close()
	}()
	queries, err := rx.View(transport.ViewConfig{Name: "rust wire emulator"})
	if err != nil {
		return 1
	}
	for p := range queries.Packets() {
		m, err := mdns.Parse(p.Data)
		if err != nil || m.Response {
			continue
		}
		if !rustwire.Asks(m) {
			continue
		}
		out, err := rustwire.Response(m.Id, id.String(), addrs)
		if err != nil {
			continue
		}
		_, _ = tx.WriteToUDP(out, group)
	}
	return 0
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }
