// Package doctor explains, in plain words, what would stop mDNS discovery of
// libp2p peers on this machine: interfaces, sockets and group joins,
// multicast routes, other holders of UDP port 5353, IPv6, and an active
// phase that queries for the service and lists every libp2p peer heard, of
// any flavour, with whether that flavour can see us.
//
// Every check is a function returning Findings, so that each can be tested
// on its own; Run strings them together. The browser of the active phase is
// injected (Config.Browse) because internal helpers do not import the
// protocol layers.
package doctor

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/chorus-services/discovery/mdns"
	"github.com/chorus-services/discovery/mdns/transport"
)

// The statuses of a Finding: ok, warn and fail judge something; info only
// tells (an interface not used, what the active phase does).
const (
	StatusOK   = "ok"
	StatusInfo = "info"
	StatusWarn = "warn"
	StatusFail = "fail"
)

// The checks, in the order Run performs them.
const (
	CheckInterfaces = "interfaces"
	CheckSockets    = "sockets"
	CheckPort       = "port 5353"
	CheckRoutes     = "routes"
	CheckIPv6       = "ipv6"
	CheckQueries    = "queries"
	CheckFirewall   = "firewall"
	CheckPeers      = "peers"
)

// Finding is the result of one check: Status is ok, warn or fail; Hint
// says what to do about a warn or a fail.
type Finding struct {
	Check   string `json:"check"`
	Status  string `json:"status"`
	Message string `json:"message"`
	Hint    string `json:"hint,omitempty"`
}

// PeerSeen is one libp2p peer heard during the active phase.
type PeerSeen struct {
	ID      string `json:"id"`
	Flavour string `json:"flavour"`
	Service string `json:"service"`
	// Tag is the service tag of Service, as given to --service or to
	// NewMdnsService / NewMDNSDiscovery.
	Tag   string   `json:"tag"`
	Addrs []string `json:"addrs"`
	Iface string   `json:"iface"`
	// Found says whether our browser found it (with a usable address).
	Found    bool   `json:"found"`
	CanSeeUs string `json:"can_see_us"`
}

// Report is everything the doctor found.
type Report struct {
	// Verdict is the worst status of the findings: ok, warn (discovery can
	// work; something deserves a look) or fail (something stops discovery,
	// for one family or on every interface: exit code 1).
	Verdict  string     `json:"verdict"`
	Service  string     `json:"service"`
	Passive  bool       `json:"passive"`
	Duration string     `json:"duration"`
	Findings []Finding  `json:"findings"`
	Peers    []PeerSeen `json:"peers"`
	// QueriesSent counts our browser's queries; Responses the responses
	// heard from other hosts (not from our own addresses); QueriesHeard the
	// queries heard from other hosts.
	QueriesSent  int `json:"queries_sent"`
	Responses    int `json:"responses"`
	QueriesHeard int `json:"queries_heard"`
}

// OK reports whether discovery can work: no finding failed.
func (r Report) OK() bool { return verdict(r.Findings) != StatusFail }

// verdict is the worst status of fs (info counts as ok).
func verdict(fs []Finding) string {
	v := StatusOK
	for _, f := range fs {
		switch f.Status {
		case StatusFail:
			return StatusFail
		case StatusWarn:
			v = StatusWarn
		}
	}
	return v
}

// Reasons returns the messages of the failed findings.
func (r Report) Reasons() []string {
	var out []string
	for _, f := range r.Findings {
		if f.Status == StatusFail {
			out = append(out, f.Check+": "+f.Message)
		}
	}
	return out
}

// Found is one peer reported by the browser of the active phase.
type Found struct {
	ID, Flavour string
	Addrs       []string
}

// BrowseStats is what the browser of the active phase counted.
type BrowseStats struct {
	QueriesSent    int
	DroppedTTL     int // responses dropped for an IP TTL other than 255
	DroppedOffLink int // responses dropped for an off-link source
}

// BrowseFunc runs a browser for the service on conn until ctx ends (it may
// close conn), calling found for every peer it finds or updates.
type BrowseFunc func(ctx context.Context, conn transport.Conn, found func(Found)) (BrowseStats, error)

// Config configures Run.
type Config struct {
	Interfaces               []string
	IncludeLoopback          bool
	DisableIPv4, DisableIPv6 bool
	// Service is the fully qualified service name browsed.
	Service string
	// Duration of the active phase (0: 5 s).
	Duration time.Duration
	// Browse runs the browser of the active phase; nil skips the queries
	// (the raw listener still runs).
	Browse BrowseFunc
	// Passive sends nothing: no browser (Browse is ignored), no service
	// enumeration; the active phase only listens.
	Passive bool
	// Finding, when set, is called with each finding as soon as it is
	// made (Run still returns them all), so that a user sees progress.
	Finding func(Finding)
	// Logger receives the diagnostics; nil discards them.
	Logger *slog.Logger
	// ProcRoot is the proc file system ("" means /proc).
	ProcRoot string
}

// DefaultDuration is the default length of the active phase.
const DefaultDuration = 5 * time.Second

// Run performs every check and returns the report: problems of the machine
// are findings. Cancelling ctx ends the active phase early.
func Run(ctx context.Context, cfg Config) (r Report) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Duration <= 0 {
		cfg.Duration = DefaultDuration
	}
	if cfg.Service == "" {
		cfg.Service, _ = mdns.ServiceName("")
	}
	if cfg.ProcRoot == "" {
		cfg.ProcRoot = "/proc"
	}
	if cfg.Passive {
		cfg.Browse = nil
	}
	r = Report{Service: cfg.Service, Passive: cfg.Passive, Duration: cfg.Duration.String(), Peers: []PeerSeen{}}
	defer func() { r.Verdict = verdict(r.Findings) }()
	add := func(fs ...Finding) {
		r.Findings = append(r.Findings, fs...)
		if cfg.Finding != nil {
			for _, f := range fs {
				cfg.Finding(f)
			}
		}
	}
	conn := checkSetup(cfg, log, add)
	if conn == nil {
		return r
	}
	defer conn.Close()
	what := "sending queries for " + cfg.Service + " and for every service type heard (RFC 6763 §9)"
	if cfg.Browse == nil {
		what = "sending nothing (passive)"
	}
	add(Finding{CheckQueries, StatusInfo, fmt.Sprintf("listening for %s, %s", cfg.Duration, what), ""})
	act, err := active(ctx, conn, cfg, log)
	if err != nil {
		log.Warn("active phase", "err", err)
	}
	r.QueriesSent, r.Responses, r.QueriesHeard = act.stats.QueriesSent, act.responses, act.queriesHeard
	r.Peers = act.peers
	add(ActiveFindings(act.stats, act.responses, act.queriesHeard, act.badTTL, r.Peers, cfg.Browse != nil)...)
	if cfg.Browse != nil {
		add(FirewallFinding(act.stats.QueriesSent, act.ownHeard, firewallRules()))
	}
	add(TagFindings(cfg.Service, r.Peers)...)
	return r
}

// checkSetup judges the interfaces, opens the mDNS sockets and judges them,
// the other holders of the port, the routes and IPv6. It returns the
// sockets for the active phase, or nil when none could be opened.
func checkSetup(cfg Config, log *slog.Logger, add func(...Finding)) transport.Conn {
	all, err := ListInterfaces()
	if err != nil {
		add(Finding{CheckInterfaces, StatusFail, "cannot list the interfaces: " + err.Error(), ""})
	} else {
		add(InterfaceFindings(all, cfg.Interfaces, cfg.IncludeLoopback, !cfg.DisableIPv4, !cfg.DisableIPv6)...)
	}
	// Who holds port 5353, before we bind it ourselves.
	holders, holdErr := FindHolders(cfg.ProcRoot, mdns.Port, os.Getpid())
	log.Debug("port 5353 holders", "holders", holders, "err", holdErr)
	conn, lerr := transport.Listen(transport.Config{
		Interfaces:      cfg.Interfaces,
		IncludeLoopback: cfg.IncludeLoopback,
		DisableIPv4:     cfg.DisableIPv4,
		DisableIPv6:     cfg.DisableIPv6,
		Logger:          log,
	})
	var joined []transport.Interface
	var problems []transport.Problem
	if lerr == nil {
		joined, problems = conn.Interfaces(), conn.Problems()
	}
	add(SocketFindings(joined, problems, lerr, !cfg.DisableIPv4, !cfg.DisableIPv6)...)
	add(PortFindings(holders, holdErr, lerr, problems)...)
	if lerr != nil {
		// Routes, IPv6 and the active phase mean nothing without sockets.
		add(Finding{CheckQueries, StatusWarn, "routes, IPv6 and the active phase not checked: no socket", ""})
		return nil
	}
	var names []string
	v6 := false
	for _, ifc := range joined {
		names = append(names, ifc.Name)
		v6 = v6 || ifc.V6
	}
	v6Off := ipv6SysctlOff(cfg.ProcRoot)
	// The IPv6 route means nothing (and `ip -6 route add` fails) where
	// IPv6 is off or no interface joined ff02::fb: the ipv6 finding says why.
	add(RouteFindings(!cfg.DisableIPv4, !cfg.DisableIPv6 && v6 && !v6Off, names)...)
	add(IPv6Finding(cfg.DisableIPv6, joined, problems, v6Off))
	return conn
}

// WriteText writes the report as a readable checklist.
func (r Report) WriteText(w io.Writer) error {
	var b strings.Builder
	WriteHeader(&b, r.Service, r.Duration)
	for _, f := range r.Findings {
		WriteFinding(&b, f)
	}
	r.writeEnd(&b)
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteHeader writes the first line of the checklist.
func WriteHeader(w io.Writer, service, duration string) {
	fmt.Fprintf(w, "mDNS discovery doctor: service %s (tag %s), active phase %s\n\n", service, mdns.ServiceTag(service), duration)
}

// WriteFinding writes one line of the checklist (and its hint).
func WriteFinding(w io.Writer, f Finding) {
	marks := map[string]string{StatusOK: "✓", StatusInfo: "·", StatusWarn: "!", StatusFail: "✗"}
	fmt.Fprintf(w, "  %s %-11s %s\n", marks[f.Status], f.Check, f.Message)
	if f.Hint != "" {
		fmt.Fprintf(w, "  %-13s hint: %s\n", "", f.Hint)
	}
}

// WriteEnd writes the end of the checklist: the peers heard and the
// verdict.
func (r Report) WriteEnd(w io.Writer) error {
	var b strings.Builder
	r.writeEnd(&b)
	_, err := io.WriteString(w, b.String())
	return err
}

func (r Report) writeEnd(b *strings.Builder) {
	if len(r.Peers) > 0 {
		fmt.Fprintf(b, "\npeers heard (%d):\n", len(r.Peers))
		for _, p := range r.Peers {
			found := "not found by us"
			if p.Found {
				found = "found by us"
			}
			fmt.Fprintf(b, "  %s  %s on %s, %s, tag %s\n", p.ID, p.Flavour, p.Iface, found, p.Tag)
			for _, a := range p.Addrs {
				fmt.Fprintf(b, "      %s\n", a)
			}
			fmt.Fprintf(b, "      can it see us (peers of this stack): %s\n", p.CanSeeUs)
		}
	}
	warns := 0
	for _, f := range r.Findings {
		if f.Status == StatusWarn {
			warns++
		}
	}
	switch verdict(r.Findings) {
	case StatusOK:
		fmt.Fprintf(b, "\nverdict: ok: discovery can work on this machine\n")
	case StatusWarn:
		fmt.Fprintf(b, "\nverdict: warn: discovery can work, but see the %d warning(s) above\n", warns)
	default:
		fmt.Fprintf(b, "\nverdict: fail: discovery cannot work as configured:\n")
		for _, reason := range r.Reasons() {
			fmt.Fprintf(b, "  - %s\n", reason)
		}
	}
}
