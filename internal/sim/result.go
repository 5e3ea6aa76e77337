package sim

import (
	"math"
	"slices"
	"strings"
	"time"

	"github.com/chorus-services/discovery/mdns/transport/memnet"
)

// Result is the JSON-serialisable outcome of one run. Times are virtual,
// in milliseconds (…MS) or seconds (…S) since t0, the instant the first
// node started.
type Result struct {
	Params      Params      `json:"params"`
	WallSeconds float64     `json:"wall_seconds"` // set by RunTest
	Convergence Convergence `json:"convergence"`
	// Startup: every packet of the startup window [0, Startup).
	Startup Traffic `json:"startup"`
	// ToConvergence: the packets sent in [0, Convergence.GlobalMS] (the
	// whole run when some node never converged).
	ToConvergence Traffic `json:"to_convergence"`
	// ToTarget: the packets sent in [0, 2 s], the target window.
	ToTarget Traffic `json:"to_target"`
	// Steady: the window [Startup, Startup+Steady).
	Steady Traffic `json:"steady"`
	// Shutdown: everything after the steady window (goodbyes on Close).
	Shutdown Traffic `json:"shutdown"`
	// Counters are the stacks' counters summed over nodes, per window
	// ("startup", "steady", "shutdown").
	Counters map[string]map[string]uint64 `json:"counters"`
	// LAN are the memnet counters per window.
	LAN    map[string]memnet.Stats `json:"lan"`
	Health Health                  `json:"health"`
	// StartupTimeline has Params.Bin-wide bins over the startup window,
	// SteadyTimeline 10 s bins over the steady window.
	StartupTimeline []Bin `json:"startup_timeline"`
	SteadyTimeline  []Bin `json:"steady_timeline"`
}

// Convergence describes when the browsers found each other.
type Convergence struct {
	// Converged counts the nodes whose browser found all N-1 others by the
	// end of the run; InStartup those that did so in the startup window.
	Converged int  `json:"converged"`
	InStartup int  `json:"converged_in_startup"`
	All       bool `json:"all"`
	// Node*MS: per node, the time its browser had found every other node
	// (converged nodes only).
	NodeMedianMS float64 `json:"node_median_ms"`
	NodeP99MS    float64 `json:"node_p99_ms"`
	NodeMaxMS    float64 `json:"node_max_ms"`
	// GlobalMS is when the last node converged (-1: not all did).
	GlobalMS float64 `json:"global_ms"`
	// Pair*MS: per ordered pair (i finds j), from the later of the two
	// start instants to i's Found event for j.
	PairMedianMS float64 `json:"pair_median_ms"`
	PairP99MS    float64 `json:"pair_p99_ms"`
	PairMaxMS    float64 `json:"pair_max_ms"`
	// MissedPairs*: ordered pairs not found by the end of the startup
	// window, and by the end of the run.
	MissedPairsStartup int `json:"missed_pairs_startup"`
	MissedPairs        int `json:"missed_pairs"`
	// Lost and Refound count Lost events and Found events after a Lost.
	Lost    int `json:"lost_events"`
	Refound int `json:"refound_events"`
}

// Dist summarises one number over the nodes.
type Dist struct {
	Mean   float64 `json:"mean"`
	Min    float64 `json:"min"`
	Median float64 `json:"median"`
	P99    float64 `json:"p99"`
	Max    float64 `json:"max"`
}

// Traffic is what the nodes sent in one window.
type Traffic struct {
	FromS float64 `json:"from_s"`
	ToS   float64 `json:"to_s"`
	// Complete is false when the startup packet log hit Params.LogLimit
	// (only ToConvergence and ToTarget are affected).
	Complete    bool              `json:"complete"`
	Packets     uint64            `json:"packets"`
	Bytes       uint64            `json:"bytes"`
	ByKind      map[string]uint64 `json:"packets_by_kind"`
	BytesByKind map[string]uint64 `json:"bytes_by_kind"`
	// PerNode: packets sent per node, in total ("total") and per kind.
	PerNode map[string]Dist `json:"per_node"`
	// Details are the query and response sub-counts summed over nodes.
	Details Counts `json:"details"`
	// PerNodePerMinute is PerNode["total"] scaled to one minute (steady
	// window only).
	PerNodePerMinute *Dist `json:"per_node_per_minute,omitempty"`
}

// Health reports what would make a run unrepresentative: packets dropped
// for want of simulation CPU or queue room (must be 0), and the
// impairments actually applied.
type Health struct {
	QueueDrops    uint64 `json:"queue_drops"`    // memnet Conn and stack queue overflows
	EventsDropped uint64 `json:"events_dropped"` // browser events dropped
	LinkLost      uint64 `json:"link_lost"`      // per-receiver copies dropped by Params.Loss
	Oversize      uint64 `json:"oversize"`       // packets larger than the MTU allows
	Other         uint64 `json:"other_packets"`  // packets that did not classify
	StartupLogged bool   `json:"startup_logged"` // the startup log was complete
}

// Bin is one timeline bin: packets by kind and bytes sent in it.
type Bin struct {
	FromS   float64           `json:"from_s"`
	Packets map[string]uint64 `json:"packets"`
	Bytes   uint64            `json:"bytes"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// percentile returns the nearest-rank p-th percentile of sorted v.
func percentile(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(v)))) - 1
	return v[min(max(i, 0), len(v)-1)]
}

func dist(v []float64) Dist {
	if len(v) == 0 {
		return Dist{}
	}
	s := slices.Clone(v)
	slices.Sort(s)
	var sum float64
	for _, x := range s {
		sum += x
	}
	return Dist{Mean: sum / float64(len(s)), Min: s[0], Median: percentile(s, 50), P99: percentile(s, 99), Max: s[len(s)-1]}
}

// discovery fills Convergence from the found times; called at the end of
// the startup window (missed pairs then) and at the end of the run.
func (r *Result) discovery(states []*nodeState, t0 time.Time, horizon time.Duration, final bool) {
	n := len(states)
	c := &r.Convergence
	var nodes, pairs []float64
	missed, converged := 0, 0
	global := time.Duration(0)
	lost, refound := 0, 0
	for i, st := range states {
		st.mu.Lock()
		for j, at := range st.found {
			if j == i {
				continue
			}
			if at.IsZero() || at.Sub(t0) >= horizon {
				missed++
				continue
			}
			pairs = append(pairs, ms(at.Sub(later(st.start, states[j].startTime()))))
		}
		if !st.doneAt.IsZero() && st.doneAt.Sub(t0) < horizon {
			converged++
			d := st.doneAt.Sub(t0)
			nodes = append(nodes, ms(d))
			global = max(global, d)
		}
		lost += st.lost
		refound += st.refound
		st.mu.Unlock()
	}
	if !final {
		c.MissedPairsStartup, c.InStartup = missed, converged
		return
	}
	c.MissedPairs, c.Converged, c.All = missed, converged, converged == n
	nd, pd := dist(nodes), dist(pairs)
	c.NodeMedianMS, c.NodeP99MS, c.NodeMaxMS = nd.Median, nd.P99, nd.Max
	c.PairMedianMS, c.PairP99MS, c.PairMaxMS = pd.Median, pd.P99, pd.Max
	c.GlobalMS = -1
	if c.All {
		c.GlobalMS = ms(global)
	}
	c.Lost, c.Refound = lost, refound
}

func (st *nodeState) startTime() time.Time {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.start
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// traffic fills the traffic windows, counters, health and timelines.
func (r *Result) traffic(col *collector, stats [nWindows + 1]map[string]uint64, lan [nWindows + 1]memnet.Stats) {
	p := &r.Params
	end := p.Startup + p.Steady
	r.Startup = summarize(col.window(winStartup), 0, p.Startup, true)
	r.Steady = summarize(col.window(winSteady), p.Startup, end, true)
	if p.Steady > 0 {
		per := r.Steady.PerNode["total"]
		f := float64(time.Minute) / float64(p.Steady)
		r.Steady.PerNodePerMinute = &Dist{Mean: per.Mean * f, Min: per.Min * f, Median: per.Median * f, P99: per.P99 * f, Max: per.Max * f}
	}
	r.Shutdown = summarize(col.window(winShutdown), end, end, true)

	conv := end
	if r.Convergence.All {
		conv = time.Duration(r.Convergence.GlobalMS * float64(time.Millisecond))
	}
	if conv <= p.Startup {
		counts, ok := col.until(conv, p.N)
		r.ToConvergence = summarize(counts, 0, conv, ok)
	} else {
		// Convergence took longer than the startup window: the startup
		// log does not cover it; count startup plus the steady packets.
		counts := col.window(winStartup)
		for i, c := range col.window(winSteady) {
			counts[i].merge(&c)
		}
		r.ToConvergence = summarize(counts, 0, end, true)
	}
	target := min(2*time.Second, p.Startup)
	counts, ok := col.until(target, p.N)
	r.ToTarget = summarize(counts, 0, target, ok)

	names := [nWindows]string{"startup", "steady", "shutdown"}
	r.Counters = map[string]map[string]uint64{}
	r.LAN = map[string]memnet.Stats{}
	for w, name := range names {
		r.Counters[name] = deltaMap(stats[w], stats[w+1])
		r.LAN[name] = deltaLAN(lan[w], lan[w+1])
	}
	total := lan[nWindows]
	r.Health = Health{
		QueueDrops: total.Overflow, LinkLost: total.Lost,
		Oversize: total.Oversize, StartupLogged: !col.logFull,
	}
	for k, v := range stats[nWindows] {
		switch {
		case strings.HasSuffix(k, "QueueFull"), strings.HasSuffix(k, "SplitDropped"):
			r.Health.QueueDrops += v
		case strings.HasSuffix(k, "EventsDropped"):
			r.Health.EventsDropped += v
		}
	}
	for _, w := range []*Traffic{&r.Startup, &r.Steady, &r.Shutdown} {
		r.Health.Other += w.ByKind[KindOther.String()]
	}

	col.mu.Lock()
	defer col.mu.Unlock()
	r.StartupTimeline = timeline(col.startBin, 0, p.Bin)
	r.SteadyTimeline = timeline(col.steadBin, p.Startup, steadyBin)
}

func summarize(nodes []Counts, from, to time.Duration, complete bool) Traffic {
	t := Traffic{
		FromS: from.Seconds(), ToS: to.Seconds(), Complete: complete,
		ByKind: map[string]uint64{}, BytesByKind: map[string]uint64{}, PerNode: map[string]Dist{},
	}
	for i := range nodes {
		t.Details.merge(&nodes[i])
	}
	t.Packets, t.Bytes = t.Details.Total(), t.Details.TotalBytes()
	vals := make([]float64, len(nodes))
	for k := range nKinds {
		name := k.String()
		t.ByKind[name] = t.Details.Packets[k]
		t.BytesByKind[name] = t.Details.Bytes[k]
		for i := range nodes {
			vals[i] = float64(nodes[i].Packets[k])
		}
		t.PerNode[name] = dist(vals)
	}
	for i := range nodes {
		vals[i] = float64(nodes[i].Total())
	}
	t.PerNode["total"] = dist(vals)
	return t
}

func deltaMap(a, b map[string]uint64) map[string]uint64 {
	out := make(map[string]uint64, len(b))
	for k, v := range b {
		out[k] = v - a[k]
	}
	return out
}

func deltaLAN(a, b memnet.Stats) memnet.Stats {
	return memnet.Stats{
		Sent: b.Sent - a.Sent, SentBytes: b.SentBytes - a.SentBytes, Injected: b.Injected - a.Injected,
		Oversize: b.Oversize - a.Oversize, Delivered: b.Delivered - a.Delivered, Overflow: b.Overflow - a.Overflow,
		Lost: b.Lost - a.Lost, Duplicated: b.Duplicated - a.Duplicated, Reordered: b.Reordered - a.Reordered,
		DroppedDown: b.DroppedDown - a.DroppedDown, Unroutable: b.Unroutable - a.Unroutable,
		EventsDropped: b.EventsDropped - a.EventsDropped,
	}
}

func timeline(bins []bin, from, width time.Duration) []Bin {
	out := make([]Bin, len(bins))
	for i, b := range bins {
		out[i] = Bin{FromS: (from + time.Duration(i)*width).Seconds(), Packets: map[string]uint64{}, Bytes: b.bytes}
		for k := range nKinds {
			if b.packets[k] > 0 {
				out[i].Packets[k.String()] = b.packets[k]
			}
		}
	}
	return out
}
