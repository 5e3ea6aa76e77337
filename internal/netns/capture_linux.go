//go:build linux

package netns

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/chorus-services/discovery/internal/syncbuf"
)

// Capture records the bridge's traffic to a pcap file with tcpdump until
// the returned stop is called or ctx ends (stop also runs at the test's
// cleanup, or at Close for a Net from Build). It fails when tcpdump is not
// installed.
func (nt *Net) Capture(ctx context.Context, path string) (stop func() error, err error) {
	if _, err := exec.LookPath("tcpdump"); err != nil {
		return nil, errors.New("netns: tcpdump is not installed")
	}
	var stderr syncbuf.Buffer
	// --immediate-mode: without it libpcap hands packets over per ring
	// block, and those of the last block are lost when tcpdump is stopped.
	cmd := nt.Exec(ctx, 0, "tcpdump", "-i", bridgeDev, "--immediate-mode", "-U", "-n", "-w", path)
	cmd.Stderr = &stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGINT) }
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	var once sync.Once
	var werr error
	stop = func() error {
		once.Do(func() {
			_ = cmd.Process.Signal(syscall.SIGINT)
			werr = cmd.Wait()
			var ee *exec.ExitError
			if errors.As(werr, &ee) {
				werr = nil // tcpdump ends on SIGINT
			}
		})
		return werr
	}
	nt.onClose(func() { _ = stop() })
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(stderr.String(), "listening on") {
		if time.Now().After(deadline) {
			_ = stop()
			return nil, fmt.Errorf("netns: tcpdump did not start: %s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return stop, nil
}
