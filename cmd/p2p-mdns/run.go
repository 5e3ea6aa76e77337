package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"time"

	"github.com/chorus-services/discovery"
	"github.com/chorus-services/discovery/browser"
	"github.com/chorus-services/discovery/mdns"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// defaultListen are run's libp2p listen addresses: TCP and QUIC on every
// interface, both families, kernel-chosen ports.
var defaultListen = []string{"/ip4/0.0.0.0/tcp/0", "/ip4/0.0.0.0/udp/0/quic-v1", "/ip6/::/tcp/0", "/ip6/::/udp/0/quic-v1"}

// runRun is the main job: a libp2p host that announces itself, browses,
// connects to every peer found and prints what happens.
func runRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c common
	c.register(fs)
	var listen stringList
	fs.Var(&listen, "listen", "libp2p listen multiaddr (repeatable; default TCP and QUIC on all interfaces, both families)")
	metricsAddr := fs.String("metrics", "", "serve Prometheus /metrics on this address (e.g. 127.0.0.1:9464)")
	noConnect := fs.Bool("no-connect", false, "find peers but do not connect to them")
	dialTimeout := fs.Duration("dial-timeout", 10*time.Second, "timeout of one connection attempt")
	keyFile := fs.String("peer-key", "", "libp2p private key file (protobuf); default: a new random identity")
	statsEvery := fs.Duration("stats", 0, "print a stats event (heap, goroutines, every layer's counters, peers, connections) every D and at exit (0: never)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	log, err := c.logger(stderr)
	if err != nil {
		return err
	}
	if !c.ipv4 && !c.ipv6 {
		return usageError{errors.New("--ipv4=false and --ipv6=false leave nothing to listen on")}
	}
	if *statsEvery < 0 {
		return usageError{errors.New("--stats must not be negative")}
	}
	tag := c.service
	if tag == "" {
		tag = mdns.SpecTag
	}
	if _, err := mdns.ServiceName(tag); err != nil {
		return usageError{err}
	}
	if len(listen) == 0 {
		listen = defaultListen
	}
	hostOpts := []libp2p.Option{libp2p.ListenAddrStrings(listen...)}
	if *keyFile != "" {
		raw, err := os.ReadFile(*keyFile)
		if err != nil {
			return usageError{fmt.Errorf("--peer-key: %w", err)}
		}
		sk, err := crypto.UnmarshalPrivateKey(raw)
		if err != nil {
			return usageError{fmt.Errorf("--peer-key %s: %w", *keyFile, err)}
		}
		hostOpts = append(hostOpts, libp2p.Identity(sk))
	}
	h, err := libp2p.New(hostOpts...)
	if err != nil {
		return fmt.Errorf("libp2p host: %w", err)
	}
	defer h.Close()

	reg := prometheus.NewRegistry()
	opts := []discovery.Option{
		discovery.WithInterfaces(c.ifaces...), discovery.WithLoopback(c.loopback),
		discovery.WithIPv4(c.ipv4), discovery.WithIPv6(c.ipv6),
		discovery.WithAutoConnect(!*noConnect), discovery.WithDialTimeout(*dialTimeout),
		discovery.WithLogger(log), discovery.WithEvents(1024), discovery.WithPrometheus(reg),
	}
	ctx, cancel := c.withDuration(ctx)
	defer cancel()
	start := nowFunc()
	out := newEventWriter(stdout, c.jsonOut)
	d, err := discovery.NewMDNSDiscovery(ctx, h, tag, opts...)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := out.emit("self", h.ID(), d.Addrs(), "", 0); err != nil {
		return err
	}

	if *metricsAddr != "" {
		ln, err := net.Listen("tcp", *metricsAddr)
		if err != nil {
			return fmt.Errorf("--metrics: %w", err)
		}
		srv := &http.Server{Handler: metricsMux(reg), ReadHeaderTimeout: 5 * time.Second}
		served := make(chan struct{})
		go func() { defer close(served); _ = srv.Serve(ln) }()
		defer func() {
			sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer scancel()
			_ = srv.Shutdown(sctx)
			<-served
		}()
		log.Info("serving metrics", "addr", ln.Addr().String())
	}

	var tick <-chan time.Time
	stats := func() error { return nil }
	if *statsEvery > 0 {
		tk := time.NewTicker(*statsEvery)
		defer tk.Stop()
		tick = tk.C
		sw := newStatsWriter(stdout, c.jsonOut)
		stats = func() error { return sw.write(collectStats(h, d, nowFunc().Sub(start).Seconds())) }
	}
	for {
		select {
		case <-ctx.Done():
			// Close sends the goodbyes (RFC 6762 §10.1) before we exit.
			err := d.Close()
			return errors.Join(err, stats())
		case <-tick:
			if err := stats(); err != nil {
				return err
			}
		case ev, ok := <-d.Events():
			if !ok {
				return stats()
			}
			t := nowFunc().Sub(start).Seconds()
			var err error
			if ev.Kind == discovery.DialFailed {
				err = out.emitError(ev.Kind.String(), ev.Peer.ID, ev.Peer.Addrs, ev.Flavour, t, ev.Err)
			} else {
				err = out.emit(ev.Kind.String(), ev.Peer.ID, ev.Peer.Addrs, ev.Flavour, t)
			}
			if err != nil {
				return err
			}
		}
	}
}

func metricsMux(reg *prometheus.Registry) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return mux
}

// statsEvent is the object printed by `run --stats D`, every D and once at
// exit: {"event":"stats","t":…,"heap_inuse":…,…}. Metrics is
// discovery.Metrics(): the seed's counters plus every layer's Stats with
// their drop counters per reason (Responder.Dropped*, Browser.Dropped*,
// QueueFull, Evicted, EventsDropped, Dialer.Failures by reason, …).
type statsEvent struct {
	Event      string                     `json:"event"` // "stats"
	T          float64                    `json:"t"`
	HeapInuse  uint64                     `json:"heap_inuse"` // bytes, runtime.MemStats.HeapInuse
	HeapSys    uint64                     `json:"heap_sys"`   // bytes, runtime.MemStats.HeapSys
	HeapAlloc  uint64                     `json:"heap_alloc"` // bytes of live and not yet collected objects
	Goroutines int                        `json:"goroutines"`
	Peers      []string                   `json:"peers"`     // IDs in Peers(), sorted
	Connected  []string                   `json:"connected"` // IDs the host has a connection to, sorted
	Metrics    discovery.DiscoveryMetrics `json:"metrics"`
}

func collectStats(h host.Host, d *discovery.MDNSDiscovery, t float64) statsEvent {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	ev := statsEvent{
		Event: "stats", T: t, HeapInuse: ms.HeapInuse, HeapSys: ms.HeapSys, HeapAlloc: ms.HeapAlloc,
		Goroutines: runtime.NumGoroutine(), Peers: []string{}, Connected: []string{}, Metrics: d.Metrics(),
	}
	for _, ai := range d.Peers() {
		ev.Peers = append(ev.Peers, ai.ID.String())
	}
	for _, id := range h.Network().Peers() {
		ev.Connected = append(ev.Connected, id.String())
	}
	slices.Sort(ev.Peers)
	slices.Sort(ev.Connected)
	return ev
}

// statsWriter prints stats events as JSON lines, or as one summary line in
// table mode.
type statsWriter struct {
	w       io.Writer
	jsonOut bool
	enc     *json.Encoder
}

func newStatsWriter(w io.Writer, jsonOut bool) *statsWriter {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return &statsWriter{w: w, jsonOut: jsonOut, enc: enc}
}

func (s *statsWriter) write(ev statsEvent) error {
	if s.jsonOut {
		return s.enc.Encode(ev)
	}
	m := ev.Metrics
	_, err := fmt.Fprintf(s.w, "%10.3f  %-11s  heap %.1f MB (sys %.1f MB)  goroutines %d  peers %d  connected %d  dropped: responder %d, browser %d  dials %d ok %d failed\n",
		ev.T, ev.Event, float64(ev.HeapInuse)/(1<<20), float64(ev.HeapSys)/(1<<20), ev.Goroutines, len(ev.Peers), len(ev.Connected),
		m.Responder.Dropped(), browserDropped(m.Browser), m.ConnectionsSuccess, m.ConnectionsFailed)
	return err
}

func browserDropped(b browser.Stats) uint64 {
	return b.DroppedTTL + b.DroppedOffLink + b.DroppedMalformed + b.DroppedIrrelevant + b.DroppedOwn + b.DroppedPort + b.QueueFull
}
