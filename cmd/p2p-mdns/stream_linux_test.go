//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chorus-services/discovery/internal/interop/peers"
	"github.com/chorus-services/discovery/internal/pcapread/pcaptest"
	"golang.org/x/sys/unix"
)

// bigCapture writes a capture of at least size bytes to dir: the frames of
// g2_golibp2p_many_addrs (two go-libp2p peers, ~6 kB fragmented messages)
// repeated, each round shifted past the previous one.
func bigCapture(t *testing.T, dir string, size int64) (path string, rounds int) {
	t.Helper()
	link, frames := pcaptest.ReadFile(t, "../../testdata/pcap/g2_golibp2p_many_addrs.pcap")
	span := frames[len(frames)-1].CI.Timestamp.Sub(frames[0].CI.Timestamp) + time.Second
	path = filepath.Join(dir, "big.pcap")
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	w := pcaptest.NewWriter(t, out, link)
	var written int64
	for ; written < size; rounds++ {
		for _, fr := range frames {
			ci := fr.CI
			ci.Timestamp = ci.Timestamp.Add(time.Duration(rounds) * span)
			w.Write(ci, fr.Data)
			written += int64(16 + len(fr.Data))
		}
	}
	return path, rounds
}

// TestReplayStreamsStdin: replay reads a capture from standard input ("-")
// as it comes, in bounded memory: a 64 MB capture is replayed by a process
// whose peak RSS stays below the capture's size (the capture was loaded
// whole before: 2.2 times its size), with the same events as from the
// file, progress on stderr, and one file record. sniff --read - decodes
// the same as sniff --read FILE.
func TestReplayStreamsStdin(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and replays a 64 MB capture")
	}
	const size = 64 << 20
	path, rounds := bigCapture(t, t.TempDir(), size)
	bin := peers.P2PMdns(t)
	in, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	cmd := exec.Command(bin, "replay", "--json", "--progress", "-")
	var out, errb bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = in, &out, &errb
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v: %s", err, errb.String())
	}
	rss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss << 10 // KiB on Linux
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var rec fileRecord
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &rec); err != nil || rec.File != "-" || rec.Peers != 2*rounds {
		t.Fatalf("file record %q (%v), want %d peers", lines[len(lines)-1], err, 2*rounds)
	}
	t.Logf("%d MB capture (%d rounds, %d datagrams) from stdin in %v, peak RSS %d MB, %d lines", size>>20, rounds, rec.Datagrams, time.Since(start).Round(time.Millisecond), rss>>20, len(lines))
	if rss >= size {
		t.Errorf("peak RSS %d MB for a %d MB capture: not streamed", rss>>20, size>>20)
	}
	if !strings.Contains(errb.String(), "-: ") || !strings.Contains(errb.String(), " MB read") {
		t.Errorf("no progress on stderr: %q", errb.String())
	}

	// The same events from the file.
	var fromFile, errf bytes.Buffer
	cmd = exec.Command(bin, "replay", "--json", path)
	cmd.Stdout, cmd.Stderr = &fromFile, &errf
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v: %s", err, errf.String())
	}
	if a, b := strings.ReplaceAll(fromFile.String(), `"file":"`+path+`"`, `"file":"-"`), out.String(); a != b {
		t.Error("replay - and replay FILE differ")
	}

	small := "../../testdata/pcap/d_golibp2p_two_nodes.pcap"
	var a, b bytes.Buffer
	for _, run := range []struct {
		args []string
		out  *bytes.Buffer
	}{{[]string{"sniff", "--json", "--read", small}, &a}, {[]string{"sniff", "--json", "--read", "-"}, &b}} {
		cmd := exec.Command(bin, run.args...)
		f, _ := os.Open(small)
		cmd.Stdin, cmd.Stdout = f, run.out
		if err := cmd.Run(); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	if a.Len() == 0 || a.String() != b.String() {
		t.Errorf("sniff --read - differs from sniff --read FILE (%d, %d bytes)", a.Len(), b.Len())
	}
}

// openPTY opens a pseudo-terminal pair.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	return m, s
}

// onTerminal runs the binary with stdout on a pseudo-terminal and returns
// what it printed there.
func onTerminal(t *testing.T, args ...string) string {
	t.Helper()
	bin := peers.P2PMdns(t)
	m, s := openPTY(t)
	defer m.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout = s
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	var out bytes.Buffer
	done := make(chan struct{})
	go func() { io.Copy(&out, m); close(done) }() // ends with EIO once the child exits
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%v: %s", err, errb.String())
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("terminal output did not end")
	}
	return strings.ReplaceAll(out.String(), "\r\n", "\n")
}

// TestTerminalOutput: on a terminal, events have a header and short peer
// IDs and address lists; --wide (or a pipe) prints them whole.
func TestTerminalOutput(t *testing.T) {
	capture := "../../testdata/pcap/o4_many_addrs.pcap"
	const id = "12D3KooWGRe4cgnm4pm71oC6pbSjhdpjCUB1Gf9SPKd6kbGw2o4L"
	short := onTerminal(t, "replay", capture)
	t.Logf("on a terminal:\n%s", short)
	lines := strings.Split(short, "\n")
	if len(lines) < 3 || !strings.HasPrefix(strings.TrimSpace(lines[1]), "T  EVENT") || !strings.Contains(short, "12D3…Gw2o4L  discovery") ||
		strings.Contains(short, id) || !strings.Contains(short, "more, --wide)") {
		t.Errorf("short output:\n%s", short)
	}
	wide := onTerminal(t, "replay", "--wide", capture)
	if !strings.Contains(wide, id+"  discovery") || strings.Contains(wide, "…") {
		t.Errorf("--wide output:\n%s", wide)
	}
	sn := onTerminal(t, "sniff", "--read", capture)
	if !strings.Contains(sn, "peer 12D3…Gw2o4L [discovery, tag _p2p._udp]") || strings.Contains(sn, id) {
		t.Errorf("sniff on a terminal:\n%s", sn)
	}
}
