//go:build linux

// Command capture records the captures of this project's own mDNS traffic
// in testdata/pcap (the o* scenarios), each with its JSON sidecar and a
// tshark summary. It must run as root: it builds a private LAN of network
// namespaces (prefix cap-<pid>-, never the machine's real interfaces),
// records the bridge with tcpdump and deletes the namespaces on exit.
//
//	go run ./internal/tools/capture -out testdata/pcap [o1 o2 o3 o4 ...]
//
// Scenarios (all when none is given):
//
//	o1_discovery_two_nodes  two `p2p-mdns run` nodes, goodbyes on SIGTERM
//	o2_rust_format          a rust-libp2p-format announcer + `p2p-mdns browse`
//	o3_name_conflict        two `p2p-mdns announce` with the same --name
//	o4_many_addrs           `p2p-mdns announce` with 44 multiaddrs
//	s1_rustlibp2p_two_nodes  two real rust-libp2p nodes (internal/interop/rust-node)
//	s2_rustlibp2p_many_addrs the same with 24 listen addresses each
//	y1_pylibp2p_two_nodes    two real py-libp2p nodes (internal/interop/pylibp2p)
//	y2_pylibp2p_many_addrs   the same with 24 listen addresses each
//
// The expected peers of each sidecar are decoded from the capture itself
// (as mdns/capture_test.go does) and cross-checked against what each
// process said it announced; a scenario whose check fails writes nothing.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

type scenario struct {
	name, short string
	hosts       int
	run         func(ctx context.Context, s *session) error
}

var scenarios = []scenario{
	{"o1_discovery_two_nodes", "o1", 2, runO1},
	{"o2_rust_format", "o2", 2, runO2},
	{"o3_name_conflict", "o3", 3, runO3},
	{"o4_many_addrs", "o4", 2, runO4},
	{"s1_rustlibp2p_two_nodes", "s1", 2, runRealRust(false)},
	{"s2_rustlibp2p_many_addrs", "s2", 2, runRealRust(true)},
	{"y1_pylibp2p_two_nodes", "y1", 2, runRealPy(false)},
	{"y2_pylibp2p_many_addrs", "y2", 2, runRealPy(true)},
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "rustlike" {
		os.Exit(rustlike(os.Args[2:]))
	}
	os.Exit(realMain())
}

func realMain() int {
	out := flag.String("out", "testdata/pcap", "directory the captures are written to")
	bin := flag.String("bin", "", "p2p-mdns binary (default: go build ./cmd/p2p-mdns into a temporary directory)")
	flag.Parse()
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "capture: must run as root (network namespaces, tcpdump)")
		return 2
	}
	var todo []scenario
	for _, a := range flag.Args() {
		i := slices.IndexFunc(scenarios, func(s scenario) bool { return s.name == a || s.short == a })
		if i < 0 {
			fmt.Fprintf(os.Stderr, "capture: unknown scenario %q\n", a)
			return 2
		}
		todo = append(todo, scenarios[i])
	}
	if len(todo) == 0 {
		todo = scenarios
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	tmp, err := os.MkdirTemp("", "capture-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "capture:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	if *bin == "" {
		*bin = filepath.Join(tmp, "p2p-mdns")
		bctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		cmd := exec.CommandContext(bctx, "go", "build", "-o", *bin, "./cmd/p2p-mdns")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		err := cmd.Run()
		cancel()
		if err != nil {
			fmt.Fprintln(os.Stderr, "capture: building p2p-mdns:", err)
			return 1
		}
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "capture:", err)
		return 1
	}
	failed := 0
	for _, sc := range todo {
		if ctx.Err() != nil {
			break
		}
		fmt.Fprintf(os.Stderr, "== %s\n", sc.name)
		if err := runScenario(ctx, sc, *bin, self, tmp, *out); err != nil {
			fmt.Fprintf(os.Stderr, "capture: %s: %v\n", sc.name, err)
			failed++
		}
	}
	if failed > 0 || ctx.Err() != nil {
		return 1
	}
	return 0
}

func runScenario(ctx context.Context, sc scenario, bin, self, tmp, out string) error {
	dir := filepath.Join(tmp, sc.name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	topo, err := newTopology(ctx, sc.hosts)
	if err != nil {
		if topo != nil {
			topo.cleanup()
		}
		return err
	}
	defer topo.cleanup()
	s := &session{topo: topo, bin: bin, self: self, dir: dir, name: sc.name,
		pcap: filepath.Join(dir, sc.name+".pcap"), meta: &sidecar{Scenario: sc.name, Pcap: sc.name + ".pcap"}}
	s.meta.Topology = topo.describe()
	defer s.stopAll()
	if err := s.startCapture(ctx); err != nil {
		return err
	}
	if err := sc.run(ctx, s); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return errors.New("interrupted: nothing written")
	}
	if err := s.stopCapture(); err != nil {
		return err
	}
	if err := s.analyse(); err != nil {
		return err
	}
	return s.write(out)
}

// writeJSON writes v indented.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// copyFile copies src to dst.
func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}

var errCheck = errors.New("cross-check failed")

// runCmd runs a short command and returns its stdout.
func runCmd(ctx context.Context, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var stderr strings.Builder
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		return string(b), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(b), nil
}
