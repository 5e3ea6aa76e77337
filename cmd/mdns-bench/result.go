//go:build linux

package main

import (
	"math"

	"github.com/chorus-services/discovery/internal/benchstat"
)

// A run's result is the schema of internal/benchstat.
type (
	Result     = benchstat.Run
	joinResult = benchstat.Join
	window     = benchstat.Window
)

// stats summarise a metric over the nodes, pairs (or runs); NaN is
// written as null.
type stats = benchstat.Summary

var summarize = benchstat.Summarize

func ptr(x float64) *float64 {
	if math.IsNaN(x) {
		return nil
	}
	return &x
}

func ptrs(v []float64) []*float64 {
	out := make([]*float64, len(v))
	for i, x := range v {
		out[i] = ptr(x)
	}
	return out
}

func newWindow(a, b snapshot, n int) window {
	w := window{Seconds: b.at.Sub(a.at).Seconds(), Wire: b.c.Sub(a.c)}
	w.PacketsPerNode = float64(w.Packets) / float64(n)
	if w.Seconds > 0 {
		w.PacketsPerNodePerMin = w.PacketsPerNode / w.Seconds * 60
		w.BytesPerNodePerMin = float64(w.Bytes) / float64(n) / w.Seconds * 60
	}
	return w
}

// lastOf returns the latest time of row i of m over j ≠ i (NaN if one is
// missing); either, when set, also counts m[j][i].
func lastOf(m [][]float64, i int, either bool) float64 {
	last := 0.0
	for j := range m {
		if j == i {
			continue
		}
		t := m[i][j]
		if either && (math.IsNaN(t) || m[j][i] < t) {
			t = m[j][i]
		}
		if math.IsNaN(t) {
			return math.NaN()
		}
		last = max(last, t)
	}
	return last
}

func (r *run) result(converged bool, drops0, drops1 []udpDrops, lost uint64) *Result {
	n := r.cfg.N
	res := &Result{Params: r.cfg.Params, ConvergeTimeoutS: r.cfg.ConvergeTimeout.Seconds(), WindowS: r.cfg.Window.Seconds(),
		SteadyS: r.cfg.Steady.Seconds(), SettleS: r.cfg.Settle.Seconds(), DialTimeoutS: r.cfg.DialTimeout.Seconds(), Start: r.t0.UTC().Format("2006-01-02T15:04:05.000Z07:00"),
		Converged: converged, InjectedLoss: lost,
		PacketsNote: "UDP port 5353 packets sent by the hosts, counted once each on ingress of the bridge ports; bytes are IP lengths"}
	findAll, connAll := make([]float64, n), make([]float64, n)
	for i := 0; i < n; i++ {
		findAll[i] = lastOf(r.found, i, false) * 1000
		connAll[i] = lastOf(r.conn, i, true) * 1000
		for j := 0; j < n; j++ {
			if i != j && math.IsNaN(r.found[i][j]) {
				res.MissedPairs++
			}
			if i < j && math.IsNaN(r.conn[i][j]) && math.IsNaN(r.conn[j][i]) {
				res.UnconnectedPairs++
			}
		}
	}
	res.PairConnectMS, res.PairConnect = r.pairConnect()
	if r.cfg.Join > 0 {
		res.Join = r.join()
	}
	res.FindAllMS, res.FindAll = ptrs(findAll), summarize(findAll)
	res.ConnectAllMS, res.ConnectAll = ptrs(connAll), summarize(connAll)
	if res.FindAll.N == n {
		res.MeshFoundMS = ptr(res.FindAll.Max)
	}
	if res.ConnectAll.N == n {
		res.MeshConnectedMS = ptr(res.ConnectAll.Max)
	}

	begin := r.snaps["begin"]
	begin.at = r.t0 // nodes send nothing before the common start
	res.Conv = newWindow(begin, r.snaps["conv"], n)
	res.Window = newWindow(begin, r.snaps["window"], n)
	if s1, ok := r.snaps["steady1"]; ok {
		w := newWindow(r.snaps["steady0"], s1, n)
		res.Steady = &w
	}
	for i := range drops1 {
		res.RcvbufDropsV4 += drops1[i].V4 - drops0[i].V4
		res.RcvbufDropsV6 += drops1[i].V6 - drops0[i].V6
	}
	res.RcvbufDrops = res.RcvbufDropsV4 + res.RcvbufDropsV6

	for _, nd := range r.nodes {
		f := nd.final
		res.CPUS = append(res.CPUS, f.Usage.sub(*f.Start).seconds())
		res.RSSMiB = append(res.RSSMiB, float64(f.VmHWMKiB)/1024)
		res.FoundCalls += f.FoundCalls
		res.DialFailed += f.DialFailed
		res.EventsDropped += f.EventsDropped
		res.ChanDropped += f.ChanDropped
		res.RunS = max(res.RunS, f.T)
		if res.Steady != nil {
			used := nd.marks["steady1"].sub(nd.marks["steady0"]).seconds()
			res.SteadyCPUPerMin = append(res.SteadyCPUPerMin, used/res.Steady.Seconds*60)
		}
	}
	res.CPU, res.RSS = summarize(res.CPUS), summarize(res.RSSMiB)
	if res.Steady != nil {
		s := summarize(res.SteadyCPUPerMin)
		res.SteadyCPU = &s
	}
	return res
}

// pairConnect returns, per unordered pair, when either side first
// reported a connection, in ms from the later of the two starts.
func (r *run) pairConnect() ([]*float64, stats) {
	var v []float64
	for i := 0; i < r.cfg.N; i++ {
		for j := i + 1; j < r.cfg.N; j++ {
			v = append(v, (earliest(r.conn[i][j], r.conn[j][i])-max(r.offset[i], r.offset[j]))*1000)
		}
	}
	return ptrs(v), summarize(v)
}

// earliest is the smaller of two times, NaN only if both are.
func earliest(a, b float64) float64 {
	if math.IsNaN(a) || b < a {
		return b
	}
	return a
}

// join computes the join scenario's metrics: the joiner is the last node.
func (r *run) join() *joinResult {
	n, jn := r.cfg.N, r.cfg.N-1
	t1 := r.offset[jn]
	jr := &joinResult{SettleS: t1}
	settled := 0.0
	for i := 0; i < jn && !math.IsNaN(settled); i++ {
		for j := 0; j < jn; j++ {
			if i == j {
				continue
			}
			t := r.found[i][j]
			if !r.cfg.NoConnect {
				t = max(t, earliest(r.conn[i][j], r.conn[j][i]))
			}
			if settled = max(settled, t); math.IsNaN(t) {
				settled = math.NaN()
				break
			}
		}
	}
	jr.SettledMS, jr.Settled = ptr(settled*1000), settled < t1
	jr.FoundAllMS = ptr((lastOf(r.found, jn, false) - t1) * 1000)
	jr.ConnectedAllMS = ptr((lastOf(r.conn, jn, true) - t1) * 1000)
	by := make([]float64, jn)
	for i := range by {
		by[i] = (r.found[i][jn] - t1) * 1000
	}
	jr.FoundByMS, jr.FoundBy = ptrs(by), summarize(by)
	if jr.FoundBy.N == jn {
		jr.FoundByAllMS = ptr(jr.FoundBy.Max)
	}
	if j0, ok := r.snaps["join"]; ok {
		jr.Traffic = newWindow(j0, r.snaps["conv"], n)
	}
	return jr
}
