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

	"github.com/chorus-services/discovery/internal/benchstat"
)

// netnsRun is a cmd/mdns-bench result (one JSON line per run), joinRun
// its join scenario, dist a summary over nodes (or runs).
type (
	netnsRun = benchstat.Run
	joinRun  = benchstat.Join
	dist     = benchstat.Summary
)

// netnsFile names the result file of one harness invocation.
func netnsFile(data, kind string, n int) string {
	return filepath.Join(data, fmt.Sprintf("netns-%s-%d.jsonl", kind, n))
}

// netnsJob is one cmd/mdns-bench invocation: its result file is
// netns-<kind>-<n>.jsonl.
type netnsJob struct {
	kind string
	n    int
	args []string
}

// netnsJobs are the invocations of one namespace part.
func netnsJobs(c *config, part string) []netnsJob {
	var jobs []netnsJob
	add := func(kind string, ns []int, args ...string) {
		for _, n := range ns {
			jobs = append(jobs, netnsJob{kind, n, args})
		}
	}
	runs := strconv.Itoa(c.runs)
	quickWindow := "3s" // the fixed first window: only its packet count is used outside the steady part
	switch part {
	case "fast":
		add("fast", c.ns, "--impl", c.fastImpl, "--runs", runs, "--steady", "0", "--window", quickWindow)
		if c.strictN > 0 {
			add("strict", []int{c.strictN}, "--impl", "ours", "--runs", runs, "--steady", "0", "--window", quickWindow, "--strict-probes")
		}
	case "join":
		add("join", c.joinN, "--impl", c.joinImpl, "--runs", runs, "--steady", "0", "--window", quickWindow,
			"--join", c.joinSettle.String())
	case "loss":
		add("loss", c.lossN, "--impl", "both", "--runs", strconv.Itoa(c.lossRuns), "--steady", "0", "--window", quickWindow,
			"--loss", strconv.FormatFloat(c.loss, 'f', -1, 64))
	case "noconnect":
		// Discovery alone, without the CPU of 2·N libp2p handshakes.
		add("noconnect", c.noconnN, "--impl", "both", "--steady", "0", "--window", quickWindow, "--no-connect")
		if c.strictN > 0 {
			add("noconnect-strict", []int{c.strictN}, "--impl", "ours", "--steady", "0", "--window", quickWindow, "--no-connect", "--strict-probes")
		}
	case "steady":
		for _, n := range c.steadyN {
			// The settle wait: the steady window starts once go-libp2p's
			// query backoff (0, 4, ~16, ~46 s) has reached its 60 s period.
			add("steady", []int{n}, "--impl", "both", "--settle", c.steadySettle.String(), "--steady", c.steadyFor(n).String())
		}
	}
	return jobs
}

// runNetns builds cmd/mdns-bench once and runs the invocations of one
// namespace part.
func runNetns(c *config, part string) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("the namespace parts need root (or -parts micro,sim)")
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
	for _, j := range netnsJobs(c, part) {
		out := netnsFile(c.data, j.kind, j.n)
		args := append([]string{"-n", strconv.Itoa(j.n), "--json", out}, j.args...)
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
	if n == slices.Max(c.steadyN) {
		return c.steady
	}
	return c.steadySmall
}
