package dialer_test

import (
	"context"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/chorus-services/discovery/dialer"
)

// Example connects two loopback hosts: the facade would call Found for each
// peer the browser reports.
func Example() {
	opts := []libp2p.Option{
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.DisableRelay(),
		libp2p.DisableMetrics(),
	}
	a, err := libp2p.New(opts...)
	if err != nil {
		panic(err)
	}
	defer a.Close()
	b, err := libp2p.New(opts...)
	if err != nil {
		panic(err)
	}
	defer b.Close()

	d, err := dialer.New(dialer.Config{Host: a, Timeout: 5 * time.Second})
	if err != nil {
		panic(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(context.Background()) }()

	// As if the browser had reported b with a 120 s record TTL.
	d.Found(peer.AddrInfo{ID: b.ID(), Addrs: b.Addrs()}, 120*time.Second, true)
	for ev := range d.Events() {
		if ev.Kind == dialer.Connected || ev.Kind == dialer.DialFailed {
			fmt.Println(ev.Kind, ev.Peer == b.ID())
			break
		}
	}
	d.Close()
	fmt.Println("run:", <-done)
	s := d.Stats()
	fmt.Println("attempts:", s.Attempts, "successes:", s.Successes)
	// Output:
	// connected true
	// run: <nil>
	// attempts: 1 successes: 1
}
