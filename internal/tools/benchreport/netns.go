package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"time"
)

// netnsRun is the part of a cmd/mdns-bench result (one JSON line per run)
// that the report uses.
type netnsRun struct {
	Impl            string    `json:"impl"`
	N               int       `json:"n"`
	Run             int       `json:"run"`
	LossPct         float64   `json:"loss_pct"`
	ProbeHints      bool      `json:"probe_hints"`
	SteadyS         float64   `json:"steady_s"`
	Converged       bool      `json:"converged"`
	FindAll         dist      `json:"find_all"`
	ConnectAll      dist      `json:"connect_all"`
	MeshFoundMS     *float64  `json:"mesh_found_ms"`
	MeshConnectedMS *float64  `json:"mesh_connected_ms"`
	ProbingAll      *dist     `json:"probing_or_found_all"`
	MissedPairs     int       `json:"missed_pairs"`
	Unconnected     int       `json:"unconnected_pairs"`
	Conv            wire      `json:"conv"`
	Window          wire      `json:"window"`
	Steady          *wire     `json:"steady"`
	RcvbufDrops     uint64    `json:"rcvbuf_drops"`
	InjectedLoss    uint64    `json:"injected_loss"`
	CPU             dist      `json:"cpu"`
	RunS            float64   `json:"run_s"`
	SteadyCPU       *dist     `json:"steady_cpu_per_min"`
	RSS             dist      `json:"peak_rss"`
	CPUS            []float64 `json:"cpu_s"`
}

type dist struct {
	N      int     `json:"n"`
	Mean   float64 `json:"mean"`
	Median float64 `json:"median"`
	P99    float64 `json:"p99"`
	Max    float64 `json:"max"`
}

type wire struct {
	Seconds              float64 `json:"seconds"`
	Packets              uint64  `json:"packets"`
	Bytes                uint64  `json:"bytes"`
	PacketsPerNode       float64 `json:"packets_per_node"`
	PacketsPerNodePerMin float64 `json:"packets_per_node_per_min"`
	BytesPerNodePerMin   float64 `json:"bytes_per_node_per_min"`
}

// netnsFile names the result file of one harness invocation.
func netnsFile(data, kind string, n int) string {
	return filepath.Join(data, fmt.Sprintf("netns-%s-%d.jsonl", kind, n))
}

// runNetns builds cmd/mdns-bench once and runs it for every size (both
// implementations, with the steady window), the loss runs and the
// probe-hints run.
func runNetns(c *config) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("the namespace part needs root (or -parts micro,sim)")
	}
	dir, err := os.MkdirTemp("", "benchreport-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "mdns-bench")
	if err := command("go", "build", "-o", bin, "./cmd/mdns-bench").Run(); err != nil {
		return fmt.Errorf("build mdns-bench: %w", err)
	}
	type job struct {
		kind string
		n    int
		args []string
	}
	var jobs []job
	for _, n := range c.ns {
		// --settle 50s: the steady window starts once go-libp2p's query
		// backoff (0, 4, ~16, ~46 s) has reached its 60 s period.
		jobs = append(jobs, job{"steady", n, []string{"--impl", "both", "--settle", "50s", "--steady", c.steadyFor(n).String()}})
	}
	for _, n := range c.lossN {
		jobs = append(jobs, job{"loss", n, []string{"--impl", "both", "--steady", "0", "--loss", strconv.FormatFloat(c.loss, 'f', -1, 64)}})
	}
	if c.probeHintsN > 0 {
		jobs = append(jobs, job{"hints", c.probeHintsN, []string{"--impl", "ours", "--steady", "0", "--probe-hints"}},
			// Discovery alone, without the CPU of 2·N libp2p handshakes.
			job{"noconnect", c.probeHintsN, []string{"--impl", "both", "--steady", "0", "--no-connect"}},
			job{"noconnect-hints", c.probeHintsN, []string{"--impl", "ours", "--steady", "0", "--no-connect", "--probe-hints"}})
	}
	for _, j := range jobs {
		out := netnsFile(c.data, j.kind, j.n)
		args := append([]string{"-n", strconv.Itoa(j.n), "--runs", strconv.Itoa(c.netnsRuns), "--json", out}, j.args...)
		fmt.Fprintf(os.Stderr, "benchreport: mdns-bench %v\n", args)
		if err := command(bin, args...).Run(); err != nil {
			return fmt.Errorf("mdns-bench %v: %w", args, err)
		}
	}
	return nil
}

func command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return cmd
}

// readRuns reads a JSON-lines result file.
func readRuns(path string) ([]netnsRun, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []netnsRun
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var r netnsRun
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, r)
	}
	return out, sc.Err()
}

// steadyFor is the steady window at size n: the long one at the largest.
func (c *config) steadyFor(n int) time.Duration {
	if n == slices.Max(c.ns) {
		return c.steady
	}
	return c.steadySmall
}
