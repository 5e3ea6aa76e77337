package sim

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

var (
	flagN       = flag.String("sim.n", "", "comma-separated node counts for TestSimulate (empty: skip)")
	flagOut     = flag.String("sim.out", "", "write the TestSimulate results as a JSON array to this file")
	flagSteady  = flag.Duration("sim.steady", DefaultSteady, "steady-state window")
	flagStartup = flag.Duration("sim.startup", DefaultStartup, "startup window")
	flagLoss    = flag.String("sim.loss", "0", "comma-separated per-receiver loss probabilities")
	flagFamily  = flag.String("sim.family", "v4", "comma-separated families (v4, dual)")
	flagJitter  = flag.Duration("sim.jitter", 0, "start jitter")
	flagSeed    = flag.Uint64("sim.seed", 1, "seed")
	flagTTLHost = flag.Uint("sim.ttlhost", 0, "SRV/A/AAAA TTL in seconds (0: 120)")
	flagTTLOth  = flag.Uint("sim.ttlother", 0, "PTR/TXT TTL in seconds (0: 4500)")
	// flagStrictProbes mirrors the facade's WithProbeHints(false): peers
	// found from announcements only.
	flagStrictProbes = flag.Bool("sim.strict", false, "browsers ignore probes (the facade's WithProbeHints(false)): peers are found from announcements only")
)

// TestSmall runs a 20-node LAN for a short steady window and checks that
// the simulation works and its numbers are consistent: every pair found,
// no drop, every packet classified, the wire counts equal to the stacks'
// own counters.
func TestSmall(t *testing.T) {
	start := time.Now()
	res := RunTest(t, Params{N: 20, Seed: 7, Steady: time.Minute, Stack: mdnsStack})
	res.WallSeconds = time.Since(start).Seconds()
	c := res.Convergence
	if !c.All || c.MissedPairs != 0 || c.MissedPairsStartup != 0 || c.Lost != 0 {
		t.Fatalf("convergence %+v", c)
	}
	if c.GlobalMS <= 0 || c.NodeMaxMS != c.GlobalMS || c.NodeMedianMS > c.NodeMaxMS || c.PairMaxMS > c.GlobalMS {
		t.Errorf("inconsistent times %+v", c)
	}
	if h := res.Health; h.QueueDrops != 0 || h.EventsDropped != 0 || h.Oversize != 0 || h.Other != 0 || !h.StartupLogged {
		t.Errorf("health %+v", h)
	}
	st := res.Startup
	n := uint64(res.Params.N)
	// Every node probes three times (§8.1) and announces Announcements
	// times (§8.3, default 3) on its one family.
	if got := st.ByKind["probe"]; got != 3*n {
		t.Errorf("probes %d, want %d", got, 3*n)
	}
	if got := st.ByKind["announcement"]; got != 3*n {
		t.Errorf("announcements %d, want %d", got, 3*n)
	}
	if st.ByKind["query"] == 0 || res.Steady.Packets == 0 || res.Shutdown.ByKind["goodbye"] != n {
		t.Errorf("startup %v, steady %d packets, shutdown %v", st.ByKind, res.Steady.Packets, res.Shutdown.ByKind)
	}
	// The wire agrees with the stacks' counters, window by window.
	for name, w := range map[string]*Traffic{"startup": &res.Startup, "steady": &res.Steady, "shutdown": &res.Shutdown} {
		ctr, lan := res.Counters[name], res.LAN[name]
		if w.Packets != lan.Sent {
			t.Errorf("%s: %d packets classified, memnet sent %d", name, w.Packets, lan.Sent)
		}
		checks := []struct {
			what      string
			wire, ctr uint64
		}{
			{"probes", w.ByKind["probe"], ctr["responder.Probes"]},
			{"announcements", w.ByKind["announcement"], ctr["responder.Announcements"]},
			{"responses", w.ByKind["response"], ctr["responder.AnswersMulticast"] + ctr["responder.AnswersUnicast"] + ctr["responder.AnswersLegacy"]},
			{"goodbyes", w.ByKind["goodbye"], ctr["responder.Goodbyes"]},
			{"query messages", w.Details.QueryMessages, ctr["browser.QueriesSent"]},
		}
		for _, c := range checks {
			if c.wire != c.ctr {
				t.Errorf("%s: %d %s on the wire, counters say %d", name, c.wire, c.what, c.ctr)
			}
		}
	}
	if res.ToTarget.Packets > res.Startup.Packets || res.ToConvergence.Packets > res.Startup.Packets || res.ToConvergence.Packets == 0 {
		t.Errorf("windows: to target %d, to convergence %d, startup %d", res.ToTarget.Packets, res.ToConvergence.Packets, res.Startup.Packets)
	}
	if _, err := json.Marshal(res); err != nil {
		t.Fatal(err)
	}
	t.Logf("N=20: %s", summaryLine(res))
}

// TestSimulate runs the sizes given by -sim.n (skipped without it), e.g.
//
//	go test ./internal/sim -run TestSimulate -sim.n=100,300,1000 \
//	    -sim.out=results.json -sim.steady=5m -timeout 60m
func TestSimulate(t *testing.T) {
	if *flagN == "" {
		t.Skip("no -sim.n")
	}
	ns, err := parseList(*flagN, strconv.Atoi)
	if err != nil {
		t.Fatal(err)
	}
	losses, err := parseList(*flagLoss, func(s string) (float64, error) { return strconv.ParseFloat(s, 64) })
	if err != nil {
		t.Fatal(err)
	}
	fams, _ := parseList(*flagFamily, func(s string) (Family, error) { return Family(s), nil })
	var results []*Result
	for _, fam := range fams {
		for _, loss := range losses {
			for _, n := range ns {
				start := time.Now()
				p := Params{N: n, Seed: *flagSeed, Family: fam, Loss: loss, StartJitter: *flagJitter,
					Startup: *flagStartup, Steady: *flagSteady, Stack: mdnsStack,
					TTLHost: uint32(*flagTTLHost), TTLOther: uint32(*flagTTLOth), Logf: wallLogf(t)}
				if p.Steady == 0 {
					p.Steady = -1
				}
				res := RunTest(t, p)
				res.WallSeconds = time.Since(start).Seconds()
				results = append(results, res)
				t.Logf("N=%d family=%s loss=%.2f: %s", n, fam, loss, summaryLine(res))
				if *flagOut != "" {
					writeJSON(t, *flagOut, results) // after every run: partial results survive
				}
			}
		}
	}
}

// wallLogf logs with the wall-clock seconds since the call (the cost of
// each window of a run) and the heap in use and obtained from the OS. Inside a synctest bubble time.Now is virtual, so
// a goroutine outside it (this call must be made outside) keeps the real
// elapsed time, to 100 ms, until the test ends.
func wallLogf(t *testing.T) func(string, ...any) {
	var elapsed atomic.Int64
	start, done := time.Now(), make(chan struct{})
	t.Cleanup(func() { close(done) })
	go func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				elapsed.Store(int64(time.Since(start)))
			case <-done:
				return
			}
		}
	}()
	return func(format string, args ...any) {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		t.Logf("[wall %6.1fs, heap %.2f GiB, from the OS %.2f GiB] %s", time.Duration(elapsed.Load()).Seconds(),
			float64(m.HeapAlloc)/(1<<30), float64(m.Sys)/(1<<30), fmt.Sprintf(format, args...))
	}
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

func parseList[T any](s string, parse func(string) (T, error)) ([]T, error) {
	var out []T
	for _, f := range strings.Split(s, ",") {
		v, err := parse(strings.TrimSpace(f))
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func summaryLine(r *Result) string {
	c := r.Convergence
	tc := r.ToConvergence.PerNode
	s := fmt.Sprintf("converged %d/%d (global %.0f ms, node median %.0f p99 %.0f max %.0f ms, missed pairs %d/%d) wall %.1fs\n",
		c.Converged, r.Params.N, c.GlobalMS, c.NodeMedianMS, c.NodeP99MS, c.NodeMaxMS, c.MissedPairsStartup, c.MissedPairs, r.WallSeconds)
	s += fmt.Sprintf("  to convergence per node: total mean %.1f max %.0f; probe %.1f ann %.1f query %.1f resp %.1f; total %d pkts %d bytes\n",
		tc["total"].Mean, tc["total"].Max, tc["probe"].Mean, tc["announcement"].Mean, tc["query"].Mean, tc["response"].Mean,
		r.ToConvergence.Packets, r.ToConvergence.Bytes)
	s += fmt.Sprintf("  startup (%.0fs) per node: total mean %.1f; by kind %v; details %+v\n",
		r.Startup.ToS, r.Startup.PerNode["total"].Mean, r.Startup.ByKind, r.Startup.Details)
	if pm := r.Steady.PerNodePerMinute; pm != nil {
		s += fmt.Sprintf("  steady per node per minute: mean %.2f max %.2f; by kind %v; details %+v\n",
			pm.Mean, pm.Max, r.Steady.ByKind, r.Steady.Details)
	}
	s += fmt.Sprintf("  health %+v", r.Health)
	return s
}
