package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chorus-services/discovery"
	"github.com/chorus-services/discovery/mdns"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// defaultListen are run's libp2p listen addresses: TCP and QUIC on every
// interface, both families, kernel-chosen ports.
var defaultListen = []string{"/ip4/0.0.0.0/tcp/0", "/ip4/0.0.0.0/udp/0/quic-v1", "/ip6/::/tcp/0", "/ip6/::/udp/0/quic-v1"}

// runFlags are the flags of run beyond the common ones.
type runFlags struct {
	c                 common
	listen            stringList
	metricsAddr       string
	noConnect         bool
	probeHints        bool
	dialTimeout       time.Duration
	dialConc          int
	ttlHost, ttlOther time.Duration
	keyFile           string
	statsEvery        time.Duration
	ttlSet            bool
	listenAddrs       []ma.Multiaddr
}

func (f *runFlags) register(fs *flagSet) {
	f.c.register(fs)
	fs.Var(&f.listen, "listen", "libp2p listen multiaddr (repeatable; default TCP and QUIC on all interfaces, both families)")
	fs.StringVar(&f.metricsAddr, "metrics", "", "serve Prometheus /metrics on this host:port (e.g. 127.0.0.1:9464)")
	fs.BoolVar(&f.noConnect, "no-connect", false, "find peers but do not connect to them")
	fs.BoolVar(&f.probeHints, "probe-hints", true, "find and dial a peer at its first probe, ~750 ms before it may announce (false: strict RFC 6762, WithProbeHints)")
	fs.DurationVar(&f.dialTimeout, "dial-timeout", 10*time.Second, "timeout of one connection attempt (WithDialTimeout)")
	fs.IntVar(&f.dialConc, "dial-concurrency", 8, "connection attempts in flight at most (WithDialConcurrency)")
	fs.DurationVar(&f.ttlHost, "ttl-host", 120*time.Second, "TTL of our SRV, A and AAAA records (RFC 6762 §10; WithTTLs)")
	fs.DurationVar(&f.ttlOther, "ttl-other", 4500*time.Second, "TTL of our PTR and TXT records (RFC 6762 §10; WithTTLs)")
	fs.StringVar(&f.keyFile, "peer-key", "", "libp2p private key file (protobuf), created with a new ed25519 key if missing; default: a new identity each run")
	fs.DurationVar(&f.statsEvery, "stats", 0, "print a stats event (heap, goroutines, every layer's counters, peers, connections) every D and at exit (0: never)")
}

// check validates every flag before anything starts (usage errors).
func (f *runFlags) check(fs *flagSet) (string, error) {
	tag := f.c.service
	if tag == "" {
		tag = mdns.SpecTag
	}
	if _, err := f.c.check(); err != nil {
		return "", err
	}
	if len(f.listen) == 0 {
		f.listen = defaultListen
	}
	for _, s := range f.listen {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return "", usageError{fmt.Errorf("--listen %q: %v", s, err)}
		}
		if c := a[0].Code(); c != ma.P_IP4 && c != ma.P_IP6 {
			return "", usageError{fmt.Errorf("--listen %q: must start with /ip4 or /ip6", s)}
		}
		f.listenAddrs = append(f.listenAddrs, a)
	}
	fs.Visit(func(fl *flag.Flag) { f.ttlSet = f.ttlSet || fl.Name == "ttl-host" || fl.Name == "ttl-other" })
	switch {
	case f.dialTimeout <= 0:
		return "", usageError{fmt.Errorf("--dial-timeout %v: must be positive", f.dialTimeout)}
	case f.dialConc < 1:
		return "", usageError{fmt.Errorf("--dial-concurrency %d: must be at least 1", f.dialConc)}
	case f.ttlHost < time.Second || f.ttlOther < time.Second:
		return "", usageError{errors.New("--ttl-host and --ttl-other must be at least 1s")}
	case f.statsEvery < 0:
		return "", usageError{fmt.Errorf("--stats %v: must not be negative", f.statsEvery)}
	}
	if f.metricsAddr != "" {
		if err := checkHostPort(f.metricsAddr); err != nil {
			return "", usageError{fmt.Errorf("--metrics %q: %v", f.metricsAddr, err)}
		}
	}
	return tag, nil
}

// checkHostPort checks a host:port to listen on (the host may be empty).
func checkHostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return err
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || (n == 0 && port != "0") {
		return fmt.Errorf("bad port %q", port)
	}
	if host != "" && net.ParseIP(host) == nil && strings.ContainsAny(host, "/ ") {
		return fmt.Errorf("bad host %q", host)
	}
	return nil
}

func (f *runFlags) options(log *slog.Logger, reg prometheus.Registerer) []discovery.Option {
	c := &f.c
	opts := []discovery.Option{
		discovery.WithInterfaces(c.ifaces...), discovery.WithLoopback(c.loopback),
		discovery.WithIPv4(c.ipv4), discovery.WithIPv6(c.ipv6),
		discovery.WithAutoConnect(!f.noConnect), discovery.WithDialTimeout(f.dialTimeout),
		discovery.WithDialConcurrency(f.dialConc), discovery.WithProbeHints(f.probeHints),
		discovery.WithLogger(log), discovery.WithEvents(1024), discovery.WithPrometheus(reg),
	}
	if f.ttlSet {
		opts = append(opts, discovery.WithTTLs(f.ttlHost, f.ttlOther))
	}
	return opts
}

// runRun is the main job: a libp2p host that announces itself, browses,
// connects to every peer found and prints what happens.
func runRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("run", stdout)
	var f runFlags
	f.register(fs)
	if err := fs.noArgs(args); err != nil {
		return err
	}
	tag, err := f.check(fs)
	if err != nil {
		return err
	}
	log := f.c.logger(stderr)
	hostOpts := []libp2p.Option{libp2p.ListenAddrs(f.listenAddrs...)}
	if f.keyFile != "" {
		sk, created, err := loadKey(f.keyFile, true)
		if err != nil {
			return err
		}
		if created {
			id, _ := peer.IDFromPrivateKey(sk)
			notice(stderr, "created a new identity", "peer", id, "file", f.keyFile)
		}
		hostOpts = append(hostOpts, libp2p.Identity(sk))
	}
	reg := prometheus.NewRegistry()
	if f.metricsAddr != "" { // bound before anything starts: a busy port stops us here
		stopMetrics, err := serveMetrics(f.metricsAddr, reg, stderr)
		if err != nil {
			return err
		}
		defer stopMetrics()
	}
	h, err := libp2p.New(hostOpts...)
	if err != nil {
		return fmt.Errorf("libp2p host: %w", err)
	}
	defer h.Close()

	ctx, cancel := f.c.withDuration(ctx)
	defer cancel()
	start := nowFunc()
	out := newEventWriter(stdout, f.c.jsonOut, f.c.short(stdout))
	d, err := discovery.NewMDNSDiscovery(ctx, h, tag, f.options(log, reg)...)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := out.emit(newEvent(evSelf, h.ID(), announced(d.Addrs(), f.c.loopback || namesLoopback(f.c.ifaces)), flavourOurs, 0)); err != nil {
		return err
	}
	return runLoop(ctx, &f, h, d, out, stdout, start)
}

// announced drops the unspecified addresses from the host's addresses,
// and the loopback ones unless a loopback interface is used: the responder
// announces those on loopback interfaces only.
func announced(addrs []ma.Multiaddr, loopback bool) []ma.Multiaddr {
	out := make([]ma.Multiaddr, 0, len(addrs))
	for _, a := range addrs {
		if ip, err := manet.ToIP(a); err == nil && ((ip.IsLoopback() && !loopback) || ip.IsUnspecified()) {
			continue
		}
		out = append(out, a)
	}
	return out
}

// namesLoopback reports whether one of the named interfaces is a loopback
// interface.
func namesLoopback(names []string) bool {
	for _, n := range names {
		if ifi, err := net.InterfaceByName(n); err == nil && ifi.Flags&net.FlagLoopback != 0 {
			return true
		}
	}
	return false
}

func runLoop(ctx context.Context, f *runFlags, h host.Host, d *discovery.MDNSDiscovery, out *eventWriter, stdout io.Writer, start time.Time) error {
	var tick <-chan time.Time
	stats := func() error { return nil }
	if f.statsEvery > 0 {
		tk := time.NewTicker(f.statsEvery)
		defer tk.Stop()
		tick = tk.C
		sw := newStatsWriter(stdout, f.c.jsonOut)
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
			pe := newEvent(ev.Kind.String(), ev.Peer.ID, ev.Peer.Addrs, ev.Flavour, seconds(nowFunc().Sub(start)))
			pe.Direction = ev.Direction
			if ev.Kind == discovery.DialFailed {
				pe.Reason = ev.Reason
				if ev.Err != nil {
					pe.Error = ev.Err.Error()
				}
			}
			if err := out.emit(pe); err != nil {
				return err
			}
		}
	}
}

// serveMetrics listens on addr and serves reg, with the Go runtime and
// process collectors, on /metrics; stop shuts the server down.
func serveMetrics(addr string, reg *prometheus.Registry, stderr io.Writer) (stop func(), _ error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics: %w", err)
	}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	srv := &http.Server{Handler: metricsMux(reg), ReadHeaderTimeout: 5 * time.Second}
	served := make(chan struct{})
	go func() { defer close(served); _ = srv.Serve(ln) }()
	notice(stderr, "serving Prometheus metrics", "url", "http://"+ln.Addr().String()+"/metrics")
	return func() {
		sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer scancel()
		_ = srv.Shutdown(sctx)
		<-served
	}, nil
}

// notice logs a line the user must see whatever --log-level says.
func notice(stderr io.Writer, msg string, args ...any) {
	slog.New(slog.NewTextHandler(stderr, nil)).Info(msg, args...)
}

func metricsMux(reg *prometheus.Registry) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return mux
}

// statsEvent is the object printed by `run --stats D`, every D and once at
// exit: {"event":"stats","t":…,"heap_inuse":…,…}. Metrics is
// discovery.Metrics(): the peer and dial counters plus every layer's Stats with
// their drop counters per reason (Responder.Dropped*, Browser.Dropped*,
// QueueFull, Evicted, EventsDropped, Dialer.Failures by reason, …).
type statsEvent struct {
	Event      string   `json:"event"` // "stats"
	T          float64  `json:"t"`
	HeapInuse  uint64   `json:"heap_inuse"` // bytes, runtime.MemStats.HeapInuse
	HeapSys    uint64   `json:"heap_sys"`   // bytes, runtime.MemStats.HeapSys
	HeapAlloc  uint64   `json:"heap_alloc"` // bytes of live and not yet collected objects
	Goroutines int      `json:"goroutines"`
	Peers      []string `json:"peers"`     // IDs in Peers(), sorted
	Connected  []string `json:"connected"` // IDs the host has a connection to, sorted
	// Dropped is what was dropped for a problem, by reason: the figures of
	// Metrics().Dropped() and Prometheus' mdns_discovery_dropped_total.
	Dropped map[string]uint64          `json:"dropped"`
	Metrics discovery.DiscoveryMetrics `json:"metrics"`
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
	if ev.Dropped == nil {
		ev.Dropped = ev.Metrics.Dropped()
	}
	if s.jsonOut {
		return s.enc.Encode(ev)
	}
	m := ev.Metrics
	_, err := fmt.Fprintf(s.w, "%10.3f  %-11s  heap %.1f MB (sys %.1f MB)  goroutines %d  peers %d  connected %d  dropped %d%s  dials %d ok %d failed\n",
		ev.T, ev.Event, float64(ev.HeapInuse)/(1<<20), float64(ev.HeapSys)/(1<<20), ev.Goroutines, len(ev.Peers), len(ev.Connected),
		m.DroppedTotal(), droppedReasons(ev.Dropped), m.ConnectionsSuccess, m.ConnectionsFailed)
	return err
}

// droppedReasons lists the non-zero drop reasons, " (ttl 2, queue_full 3)".
func droppedReasons(d map[string]uint64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(d)) {
		if d[k] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, d[k]))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}
