package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chorus-services/discovery/internal/interop/peers"
	"github.com/chorus-services/discovery/internal/netns"
)

// holdEnv makes the test binary a helper program instead of running the
// tests: "udp4" holds UDP port 5353 over IPv4 exclusively (no SO_REUSEADDR
// or SO_REUSEPORT), as some programs do, until its stdin closes (at most a
// minute).
const holdEnv = "P2P_MDNS_TEST_HOLD"

func TestMain(m *testing.M) {
	if os.Getenv(holdEnv) == "udp4" {
		pc, err := net.ListenPacket("udp4", "0.0.0.0:5353")
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println("holding", pc.LocalAddr())
		done := make(chan struct{})
		go func() { io.Copy(io.Discard, os.Stdin); close(done) }()
		select {
		case <-done:
		case <-time.After(time.Minute):
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// holdPort5353 runs the holder in host i until the end of the test.
func holdPort5353(t *testing.T, nt *netns.Net, i int) {
	t.Helper()
	cmd := nt.Exec(t.Context(), i, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), holdEnv+"=udp4")
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close(); _ = cmd.Wait() })
	line := make([]byte, 128)
	n, _ := out.Read(line)
	if !strings.HasPrefix(string(line[:n]), "holding") {
		t.Fatalf("holder: %q", line[:n])
	}
}

// cliResult is one finished run of the binary.
type cliResult struct {
	stdout, stderr string
	code           int
	took           time.Duration
}

// runCLI runs the p2p-mdns binary with args in host i of nt (0: the bridge
// namespace; nt nil: here, for commands that open no socket) with stdin,
// and waits at most limit.
func runCLI(t *testing.T, nt *netns.Net, i int, stdin io.Reader, limit time.Duration, args ...string) cliResult {
	t.Helper()
	bin := peers.P2PMdns(t)
	ctx, cancel := context.WithTimeout(t.Context(), limit)
	defer cancel()
	var cmd *exec.Cmd
	if nt != nil {
		cmd = nt.Exec(ctx, i, bin, args...)
	} else {
		cmd = exec.CommandContext(ctx, bin, args...)
	}
	var out, errb bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &out, &errb
	start := time.Now()
	err := cmd.Run()
	r := cliResult{stdout: out.String(), stderr: errb.String(), took: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ctx.Err() == nil:
		r.code = ee.ExitCode()
	default:
		t.Fatalf("p2p-mdns %q: %v (after %v)\nstdout: %s\nstderr: %s", args, err, r.took, r.stdout, r.stderr)
	}
	return r
}
