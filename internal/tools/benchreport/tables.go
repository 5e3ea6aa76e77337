package main

import (
	"fmt"
	"strings"

	"github.com/chorus-services/discovery/internal/benchstat"
)

// impls are the implementations of the namespace tables, in their order.
var impls = []string{"ours", "ours-dropin", "go-libp2p"}

// implName is how the tables name an implementation.
var implName = map[string]string{
	"ours":        "this project (`NewMDNSDiscovery`, `PeersChan`)",
	"ours-dropin": "this project, drop-in `NewMdnsService`",
	"go-libp2p":   "go-libp2p mdns",
}

// pooled summarises values over nodes (or pairs) and runs; a nil value
// (never happened) counts in Missing, not in the distribution.
type pooled struct {
	dist
	Missing int
}

func poolValues(v []*float64) pooled {
	var p pooled
	var xs []float64
	for _, x := range v {
		if x == nil {
			p.Missing++
			continue
		}
		xs = append(xs, *x)
	}
	p.dist = summarize(xs)
	return p
}

var summarize = benchstat.Summarize

// eachImpl calls row, in the order of ns and impls, for every N and
// implementation with runs in byN.
func eachImpl(ns []int, byN map[int][]netnsRun, row func(n int, impl string, runs []netnsRun)) {
	for _, n := range ns {
		for _, impl := range impls {
			if runs := of(byN[n], impl); len(runs) > 0 {
				row(n, impl, runs)
			}
		}
	}
}

// of returns the runs of one implementation.
func of(runs []netnsRun, impl string) []netnsRun {
	var out []netnsRun
	for _, x := range runs {
		if x.Impl == impl && !x.StrictProbes {
			out = append(out, x)
		}
	}
	return out
}

// pool gathers a per-node (or per-pair) metric over runs.
func pool(runs []netnsRun, get func(*netnsRun) []*float64) pooled {
	var all []*float64
	for i := range runs {
		all = append(all, get(&runs[i])...)
	}
	return poolValues(all)
}

// perRun gathers a per-run metric over runs.
func perRun(runs []netnsRun, get func(*netnsRun) *float64) pooled {
	v := make([]*float64, len(runs))
	for i := range runs {
		v[i] = get(&runs[i])
	}
	return poolValues(v)
}

// medMax renders "median / max", with the count of misses.
func medMax(p pooled) string {
	s := ms(p.Median) + " / " + ms(p.Max)
	if p.N == 0 {
		return "never"
	}
	if p.Missing > 0 {
		s += fmt.Sprintf(" (%d never)", p.Missing)
	}
	return s
}

func findAllMS(x *netnsRun) []*float64     { return x.FindAllMS }
func pairConnectMS(x *netnsRun) []*float64 { return x.PairConnectMS }
func meshFound(x *netnsRun) *float64       { return x.MeshFoundMS }
func meshConnected(x *netnsRun) *float64   { return x.MeshConnectedMS }

func sumInts(runs []netnsRun, get func(*netnsRun) int) int {
	n := 0
	for i := range runs {
		n += get(&runs[i])
	}
	return n
}

func (r *report) fastSection() string {
	if len(r.fast) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n## Found and connected: N nodes started together\n\n`mdns-bench -n N --impl all --runs %d --steady 0`. *found all*: per node, from the common start until the public API had handed it every other node (ours: `PeersChan`; the drop-in and go-libp2p: `HandlePeerFound`); *pair connected*: per pair, until either side's host reported a connection. Both pooled over nodes (pairs) and runs: median / max. *every pair connected*: the last pair of a run, median / max over runs.\n\n", r.cfg.runs)
	b.WriteString("| N | implementation | runs | found all ms | pair connected ms | every node found all ms | every pair connected ms | missed / unconnected pairs |\n|---|---|---|---|---|---|---|---|\n")
	eachImpl(r.cfg.ns, r.fast, func(n int, impl string, runs []netnsRun) {
		fmt.Fprintf(&b, "| %d | %s | %d | %s | %s | %s | %s | %d / %d |\n", n, implName[impl], len(runs),
			medMax(pool(runs, findAllMS)), medMax(pool(runs, pairConnectMS)),
			medMax(perRun(runs, meshFound)), medMax(perRun(runs, meshConnected)),
			sumInts(runs, func(x *netnsRun) int { return x.MissedPairs }), sumInts(runs, func(x *netnsRun) int { return x.UnconnectedPairs }))
	})
	b.WriteString("\n![time until every pair is connected, against N](" + r.cfg.data + "/connected.svg)\n")
	if len(r.strict) > 0 {
		fmt.Fprintf(&b, "\n### Strict RFC 6762 (`discovery.WithProbeHints(false)`, N=%d)\n\nA peer is found only from its announcements and answers, not from its probes.\n\n", r.cfg.strictN)
		b.WriteString(r.shortTable(r.strict))
	}
	return b.String()
}

// joinMetrics are the join scenario's numbers of one implementation at
// one size, pooled over runs.
type joinMetrics struct {
	runs, settled     int
	foundAll, connAll pooled // the joiner, per run
	foundByAll        pooled // until every settled node had found it, per run
	foundBy           pooled // each settled node, pooled over runs
	packets           dist   // per node, joiner's start → all found
}

func joinOf(runs []netnsRun) joinMetrics {
	var m joinMetrics
	var pkts []float64
	var by []*float64
	for _, x := range runs {
		if x.Join == nil {
			continue
		}
		m.runs++
		if x.Join.Settled {
			m.settled++
		}
		by = append(by, x.Join.FoundByMS...)
		pkts = append(pkts, x.Join.Traffic.PacketsPerNode)
	}
	m.foundAll = perRun(runs, func(x *netnsRun) *float64 { return joinField(x, func(j *joinRun) *float64 { return j.FoundAllMS }) })
	m.connAll = perRun(runs, func(x *netnsRun) *float64 { return joinField(x, func(j *joinRun) *float64 { return j.ConnectedAllMS }) })
	m.foundByAll = perRun(runs, func(x *netnsRun) *float64 { return joinField(x, func(j *joinRun) *float64 { return j.FoundByAllMS }) })
	m.foundBy = poolValues(by)
	m.packets = summarize(pkts)
	return m
}

func joinField(x *netnsRun, get func(*joinRun) *float64) *float64 {
	if x.Join == nil {
		return nil
	}
	return get(x.Join)
}

func (r *report) joinSection() string {
	if len(r.join) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n## Join: one node starts into a settled LAN\n\n`mdns-bench -n N --impl all --runs %d --join %s --steady 0`: N-1 nodes start together; %s later, when their start-up traffic is over, the last node starts. Times from its start. *it found / connected all*, *all others found it*: median / max over runs; *each other found it*: every settled node, pooled over runs: median / max; *packets per node*: sent from 250 ms before the join until every node had found every other, median over runs. *settled*: runs where the N-1 had found (and connected) each other before the join.\n\n", r.cfg.runs, r.cfg.joinSettle, r.cfg.joinSettle)
	b.WriteString("| joins | implementation | runs (settled) | it found all ms | it connected all ms | all others found it ms | each other found it ms | packets per node |\n|---|---|---|---|---|---|---|---|\n")
	eachImpl(r.cfg.joinN, r.join, func(n int, impl string, runs []netnsRun) {
		m := joinOf(runs)
		fmt.Fprintf(&b, "| 1 into %d | %s | %d (%d) | %s | %s | %s | %s | %.1f |\n", n-1, implName[impl], m.runs, m.settled,
			medMax(m.foundAll), medMax(m.connAll), medMax(m.foundByAll), medMax(m.foundBy), m.packets.Median)
	})
	return b.String()
}

func (r *report) lossSection() string {
	var b strings.Builder
	for _, n := range r.cfg.lossN {
		if len(r.loss[n]) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n## %.0f %% random loss, N=%d\n\nnftables `numgen random` drops that share of the UDP 5353 datagrams arriving at each host. *every node found all*: median / max over runs.\n\n", r.cfg.loss, n)
		b.WriteString("| implementation | runs | found all ms | every node found all ms | pair connected ms | every pair connected ms | missed / unconnected pairs | datagrams dropped |\n|---|---|---|---|---|---|---|---|\n")
		for _, impl := range impls {
			runs := of(r.loss[n], impl)
			if len(runs) == 0 {
				continue
			}
			fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %s | %d / %d | %d |\n", implName[impl], len(runs),
				medMax(pool(runs, findAllMS)), medMax(perRun(runs, meshFound)), medMax(pool(runs, pairConnectMS)), medMax(perRun(runs, meshConnected)),
				sumInts(runs, func(x *netnsRun) int { return x.MissedPairs }), sumInts(runs, func(x *netnsRun) int { return x.UnconnectedPairs }),
				sumInts(runs, func(x *netnsRun) int { return int(x.InjectedLoss) }))
		}
	}
	return b.String()
}

func (r *report) noconnSection() string {
	if len(r.noconn) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("\n## Discovery alone (`--no-connect`)\n\nThe same simultaneous start without any libp2p connection, so no handshake competes for the CPU (default options, and strict where measured).\n\n")
	b.WriteString("| N | impl | found all ms: median / p99 / max | mesh found ms | missed pairs |\n|---|---|---|---|---|\n")
	for _, x := range r.noconn {
		fa, impl := x.FindAll, x.Impl
		if x.StrictProbes {
			impl += " (strict)"
		}
		fmt.Fprintf(&b, "| %d | %s | %s / %s / %s | %s | %d |\n", x.N, impl, ms(fa.Median), ms(fa.P99), ms(fa.Max), msp(x.MeshFoundMS), x.MissedPairs)
	}
	return b.String()
}
