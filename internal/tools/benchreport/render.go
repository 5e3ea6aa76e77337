package main

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

type report struct {
	cfg     *config
	started time.Time
	took    map[string]time.Duration // parts run now
	timings map[string]float64       // seconds each part took when last run (timings.json)
	micro   []microResult
	fast    map[int][]netnsRun // by N
	join    map[int][]netnsRun // by N (after the join)
	loss    map[int][]netnsRun
	steady  map[int][]netnsRun
	strict  []netnsRun // ours with WithProbeHints(false)
	noconn  []netnsRun // without connecting, default and strict
	sim     []simResult
	missing []string
}

// loadRuns reads the result files of one kind for every size; a size never
// run is listed as missing.
func (r *report) loadRuns(kind, what string, ns []int) (map[int][]netnsRun, error) {
	out := map[int][]netnsRun{}
	for _, n := range ns {
		runs, err := readRuns(netnsFile(r.cfg.data, kind, n))
		if err != nil {
			if !optional(err) {
				return nil, err
			}
			r.missing = append(r.missing, fmt.Sprintf("%s at N=%d", what, n))
			continue
		}
		out[n] = runs
	}
	return out, nil
}

// load reads every part's results; a part never run is listed as missing.
func (r *report) load() error {
	c := r.cfg
	if err := readJSON(filepath.Join(c.data, "micro.json"), &r.micro); err != nil {
		if !optional(err) {
			return err
		}
		r.missing = append(r.missing, "micro-benchmarks")
	}
	var err error
	for _, l := range []struct {
		dst        *map[int][]netnsRun
		kind, what string
		ns         []int
	}{
		{&r.fast, "fast", "simultaneous start", c.ns}, {&r.join, "join", "join", c.joinN},
		{&r.loss, "loss", "loss runs", c.lossN}, {&r.steady, "steady", "steady-state runs", c.steadyN},
	} {
		if *l.dst, err = r.loadRuns(l.kind, l.what, l.ns); err != nil {
			return err
		}
	}
	noconn, err := r.loadRuns("noconnect", "discovery alone", c.noconnN)
	if err != nil {
		return err
	}
	for _, n := range c.noconnN {
		r.noconn = append(r.noconn, noconn[n]...)
	}
	if c.strictN > 0 {
		if r.strict, err = readRuns(netnsFile(c.data, "strict", c.strictN)); err != nil && !optional(err) {
			return err
		}
		runs, err := readRuns(netnsFile(c.data, "noconnect-strict", c.strictN))
		if err != nil && !optional(err) {
			return err
		}
		r.noconn = append(r.noconn, runs...)
	}
	if err := readJSON(simFile(c.data), &r.sim); err != nil {
		if !optional(err) {
			return err
		}
		r.missing = append(r.missing, "simulation")
	}
	return r.loadTimings()
}

// loadTimings merges the durations of the parts run now into
// timings.json, which keeps those of earlier runs.
func (r *report) loadTimings() error {
	path := filepath.Join(r.cfg.data, "timings.json")
	r.timings = map[string]float64{}
	if err := readJSON(path, &r.timings); err != nil && !optional(err) {
		return err
	}
	if len(r.took) == 0 {
		return nil
	}
	for part, d := range r.took {
		r.timings[part] = d.Seconds()
	}
	return writeJSON(path, r.timings)
}

func (r *report) write() error {
	var b strings.Builder
	c := r.cfg
	b.WriteString("# Benchmarks\n\n")
	b.WriteString(r.commands())
	b.WriteString(machine())
	if len(r.missing) > 0 {
		fmt.Fprintf(&b, "\nNot in this report (never run): %s.\n", strings.Join(r.missing, ", "))
	}
	b.WriteString("\n## Targets of issue #13\n\n")
	b.WriteString("Default options of both implementations; *this project* is `discovery.NewMDNSDiscovery` (auto-connect) read through `PeersChan`. Where a target is missed, *met* says by how much.\n\n")
	b.WriteString(r.targets())
	b.WriteString("\n" + notes + "\n")
	if err := r.plots(); err != nil {
		return err
	}
	b.WriteString(r.fastSection())
	b.WriteString(r.joinSection())
	b.WriteString(r.lossSection())
	b.WriteString(r.noconnSection())
	fmt.Fprintf(&b, "\n## Steady state in namespaces\n\n`mdns-bench -n N --impl both --settle %s --steady D` per N (D = %s at N=%d, %s otherwise; the window starts %s after the first 10 s, once go-libp2p's query backoff has reached its 60 s period). *find all*: from the common start until a node has found every other (median / p99 / max over nodes); *mesh found / connected*: until the last node had found all / every pair had a connection; packets are counted once, as sent (on ingress of the bridge ports), IPv4 and IPv6 together; *steady*: packets per node per minute in the window D after convergence; CPU per node per minute in that window; peak RSS per node process (including its libp2p host).\n\n",
		c.steadySettle, c.steady, maxOr(c.steadyN, 0), c.steadySmall, c.steadySettle)
	b.WriteString(r.netnsTable())
	b.WriteString("\n![time until every node found all others](" + c.data + "/convergence.svg)\n\n")
	b.WriteString("![steady-state packets per node per minute](" + c.data + "/steady.svg)\n\n")
	b.WriteString("![steady-state packets on the LAN per minute](" + c.data + "/total.svg)\n")
	b.WriteString("\n## Simulation: N = " + joinInts(c.simN) + " on the in-memory LAN\n\n")
	fmt.Fprintf(&b, "`internal/sim`: our responder and browser on one in-memory segment in virtual time (testing/synctest), all nodes started at the same instant, no libp2p hosts; the steady window is the %s after the 10 s startup window (up to N=%d). *wall s*: what the run cost on this machine.\n\n", c.simSteady, c.simSteadyN)
	b.WriteString(r.simTable())
	b.WriteString("\n## Micro-benchmarks\n\n")
	b.WriteString(microTable(r.micro))
	return os.WriteFile(c.out, []byte(b.String()), 0o644)
}

// commands documents how to regenerate the report, whole and by part,
// with what each part took when it last ran.
func (r *report) commands() string {
	var b strings.Builder
	b.WriteString("Regenerated by one command (as root; nothing is sent on the machine's interfaces, every node runs in a network namespace):\n\n")
	b.WriteString("```sh\ngo run ./internal/tools/benchreport                    # every part\n")
	b.WriteString("go run ./internal/tools/benchreport -parts join,fast    # some parts; the others are re-rendered from their JSON\n")
	b.WriteString("go run ./internal/tools/benchreport -parts none         # only re-render from testdata/benchmarks/*\n")
	b.WriteString("go run ./internal/tools/benchreport -quick              # smoke: small N, short windows, into /tmp/benchreport-quick\n```\n\n")
	b.WriteString("| part | what | took when last run |\n|---|---|---|\n")
	what := map[string]string{
		"micro":     "`go test -bench` micro-benchmarks",
		"fast":      "simultaneous start: found all, every pair connected",
		"join":      "one node starts into a settled LAN",
		"loss":      "random loss",
		"noconnect": "discovery alone (no connections)",
		"steady":    "steady-state windows in namespaces",
		"sim":       "the in-memory simulation",
	}
	for _, p := range allParts {
		took := "–"
		if s, ok := r.timings[p]; ok {
			took = (time.Duration(s) * time.Second).Round(time.Second).String()
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", p, what[p], took)
	}
	b.WriteString("\nNamespace parts: `cmd/mdns-bench` (N nodes, one network namespace each, on one bridge; this project's `NewMDNSDiscovery`, its drop-in `NewMdnsService` and go-libp2p v0.51's `p2p/discovery/mdns`, alternately, with default options). Raw results and plots: `" + r.cfg.data + "/`.\n\n")
	return b.String()
}

func maxOr(v []int, def int) int {
	if len(v) == 0 {
		return def
	}
	return slices.Max(v)
}

func machine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				cpu = strings.TrimSpace(strings.SplitN(l, ":", 2)[1])
				break
			}
		}
	}
	kernel := "?"
	if out, err := exec.Command("uname", "-r").Output(); err == nil {
		kernel = strings.TrimSpace(string(out))
	}
	return fmt.Sprintf("Machine: %s, %d cores, Linux %s, %s, %s.\n", cpu, runtime.NumCPU(), kernel, runtime.Version(), time.Now().UTC().Format("2006-01-02"))
}

func ms(v float64) string {
	if math.IsNaN(v) || v == 0 {
		return "–"
	}
	if v >= 10000 {
		return fmt.Sprintf("%.1f s", v/1000)
	}
	return fmt.Sprintf("%.0f", v)
}

func msp(v *float64) string {
	if v == nil {
		return "never"
	}
	return ms(*v)
}

func (r *report) netnsTable() string {
	var b strings.Builder
	b.WriteString("| N | impl | find all ms: median / p99 / max | mesh found / connected ms | missed pairs | packets/node, first 10 s | steady packets/node/min | rcvbuf drops | steady CPU s/node/min | peak RSS MiB |\n|---|---|---|---|---|---|---|---|---|---|\n")
	for _, n := range r.cfg.steadyN {
		for _, x := range r.steady[n] {
			steady, cpu := "–", "–"
			if x.Steady != nil {
				steady = fmt.Sprintf("%.2f", x.Steady.PacketsPerNodePerMin)
			}
			if x.SteadyCPU != nil {
				cpu = fmt.Sprintf("%.3f", x.SteadyCPU.Mean)
			}
			fmt.Fprintf(&b, "| %d | %s | %s / %s / %s | %s / %s | %d | %.1f | %s | %d | %s | %.0f |\n", n, x.Impl,
				ms(x.FindAll.Median), ms(x.FindAll.P99), ms(x.FindAll.Max), msp(x.MeshFoundMS), msp(x.MeshConnectedMS),
				x.MissedPairs, x.Window.PacketsPerNode, steady, x.RcvbufDrops, cpu, x.RSS.Median)
		}
	}
	return b.String()
}

func (r *report) shortTable(runs []netnsRun) string {
	var b strings.Builder
	b.WriteString("| impl | found all ms: median / p99 / max | mesh found / connected ms | missed pairs | unconnected pairs | datagrams dropped |\n|---|---|---|---|---|---|\n")
	for _, x := range runs {
		fa := x.FindAll
		fmt.Fprintf(&b, "| %s | %s / %s / %s | %s / %s | %d | %d | %d |\n", x.Impl, ms(fa.Median), ms(fa.P99), ms(fa.Max),
			msp(x.MeshFoundMS), msp(x.MeshConnectedMS), x.MissedPairs, x.UnconnectedPairs, x.InjectedLoss)
	}
	return b.String()
}

func (r *report) simTable() string {
	var b strings.Builder
	b.WriteString("| N | converged | find all ms (virtual): median / p99 / max | packets/node until convergence: mean / max | by kind (all nodes) | packets/node in the first 2 s | steady packets/node/min (window) | steady packets by kind | wall s |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, s := range r.sim {
		cv := s.Convergence
		kinds := make([]string, 0, len(s.ToConvergence.ByKind))
		for k, v := range s.ToConvergence.ByKind {
			kinds = append(kinds, fmt.Sprintf("%s %d", k, v))
		}
		slices.Sort(kinds)
		steady, steadyKinds := "–", "–"
		if s.Steady.PerNodePerMinute != nil {
			steady = fmt.Sprintf("%.2f (%s)", s.Steady.PerNodePerMinute.Mean, time.Duration(s.Params.SteadyNs))
			steadyKinds = fmt.Sprintf("query %d (%d of them known-answer continuations, §7.2), response %d",
				s.Steady.ByKind["query"], s.Steady.Details.QueryContinuations, s.Steady.ByKind["response"])
		}
		tot := s.ToConvergence.PerNode["total"]
		fmt.Fprintf(&b, "| %d | %d/%d | %s / %s / %s | %.1f / %.0f | %s | %.1f | %s | %s | %.0f |\n", s.Params.N, cv.Converged, s.Params.N,
			ms(cv.NodeMedianMS), ms(cv.NodeP99MS), ms(cv.NodeMaxMS), tot.Mean, tot.Max, strings.Join(kinds, ", "),
			s.ToTarget.PerNode["total"].Mean, steady, steadyKinds, s.WallSeconds)
	}
	return b.String()
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ", ")
}
