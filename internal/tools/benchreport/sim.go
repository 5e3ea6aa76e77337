package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/chorus-services/discovery/internal/sim"
)

// simResult is the part of an internal/sim Result the report uses.
type simResult struct {
	Params struct {
		N        int     `json:"n"`
		Loss     float64 `json:"loss"`
		SteadyNs int64   `json:"steady_ns"`
		Family   string  `json:"family"`
	} `json:"params"`
	WallSeconds float64 `json:"wall_seconds"`
	Convergence struct {
		Converged    int     `json:"converged"`
		All          bool    `json:"all"`
		NodeMedianMS float64 `json:"node_median_ms"`
		NodeP99MS    float64 `json:"node_p99_ms"`
		NodeMaxMS    float64 `json:"node_max_ms"`
		GlobalMS     float64 `json:"global_ms"`
		MissedPairs  int     `json:"missed_pairs"`
	} `json:"convergence"`
	ToConvergence sim.Traffic `json:"to_convergence"`
	ToTarget      sim.Traffic `json:"to_target"`
	Steady        sim.Traffic `json:"steady"`
}

// simMemLimit is the simulation's soft memory limit (GOMEMLIMIT) unless
// the environment sets one.
const simMemLimit = "15GiB"

func simFile(data string) string { return filepath.Join(data, "sim.json") }

// runSim runs the simulation test for every size, the steady window only up
// to simSteadyN; it writes sim.json (one array, by N).
func runSim(c *config) error {
	out, err := filepath.Abs(simFile(c.data))
	if err != nil {
		return err
	}
	var all []json.RawMessage
	for _, n := range c.simN {
		steady := c.simSteady.String()
		if n > c.simSteadyN {
			steady = "-1s" // none
		}
		part := out + ".part"
		args := []string{"test", "-count=1", "-run", "^TestSimulate$", "-timeout", "120m", "./internal/sim",
			"-args", "-sim.n=" + strconv.Itoa(n), "-sim.out=" + part, "-sim.steady=" + steady}
		fmt.Fprintf(os.Stderr, "benchreport: go %v\n", args)
		cmd := command("go", args...)
		if os.Getenv("GOMEMLIMIT") == "" {
			// N=1000 holds ~5 GiB live and peaks near 15 GiB with the
			// default GOGC; a soft limit keeps it there on a 24 GiB machine.
			cmd.Env = append(os.Environ(), "GOMEMLIMIT="+simMemLimit)
		}
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("simulation N=%d: %w", n, err)
		}
		var rs []json.RawMessage
		if err := readJSON(part, &rs); err != nil {
			return err
		}
		all = append(all, rs...)
		os.Remove(part)
	}
	return writeJSON(out, all)
}
