//go:build linux

package netns

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	vnetns "github.com/vishvananda/netns"
)

const (
	// cmdTimeout bounds every ip command.
	cmdTimeout = 10 * time.Second
	// readyTimeout bounds the wait for DAD and carrier.
	readyTimeout = 10 * time.Second
	bridgeDev    = "br0"
)

// counter makes the prefixes of the Nets of one process unique.
var counter atomic.Uint64

// Net is a virtual LAN of host namespaces around one bridge namespace.
type Net struct {
	t      testing.TB
	prefix string
	bridge string
	hosts  []Host
	opts   options

	mu  sync.Mutex
	nss []string // created namespaces, for cleanup
}

// New builds a LAN of n hosts (1 ≤ n ≤ MaxHosts) for the test and registers
// its removal with t.Cleanup. It skips the test when not root, when the ip
// command is missing or when namespaces cannot be created here.
func New(t testing.TB, n int, opts ...Option) *Net {
	t.Helper()
	if testing.Short() {
		t.Skip("namespace tests do not run with -short")
	}
	if os.Geteuid() != 0 {
		skip(t, "needs root to create network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		skip(t, "needs the ip command (iproute2) to create network namespaces")
	}
	if n < 1 || n > MaxHosts {
		t.Fatalf("netns: %d hosts, want 1…%d", n, MaxHosts)
	}
	if removed, err := Sweep(Prefix); err != nil {
		t.Logf("netns: sweeping stale namespaces: %v", err)
	} else if removed > 0 {
		t.Logf("netns: removed %d stale namespaces", removed)
	}
	nt := &Net{t: t, prefix: fmt.Sprintf("%s%d-%d-", Prefix, os.Getpid(), counter.Add(1))}
	for _, o := range opts {
		o(&nt.opts)
	}
	nt.bridge = nt.prefix + "br"
	t.Cleanup(nt.cleanup)

	if err := nt.addNS(nt.bridge); err != nil {
		if isPermission(err) {
			skip(t, fmt.Sprintf("cannot create network namespaces here: %v", err))
		}
		t.Fatalf("netns: %v", err)
	}
	if err := nt.build(n); err != nil {
		t.Fatalf("netns: %v", err)
	}
	return nt
}

func isPermission(err error) bool {
	s := err.Error()
	return strings.Contains(s, "Operation not permitted") || strings.Contains(s, "Permission denied")
}

func (nt *Net) addNS(name string) error {
	if err := ipCmd("netns", "add", name); err != nil {
		return err
	}
	nt.mu.Lock()
	nt.nss = append(nt.nss, name)
	nt.mu.Unlock()
	return nil
}

func (nt *Net) build(n int) error {
	br := nt.bridge
	// A silent bridge: no IPv6 on br0 or its ports (default applies to the
	// devices created below), and every multicast frame flooded.
	if err := nt.sysctls(0, map[string]string{
		"net/ipv6/conf/all/disable_ipv6":     "1",
		"net/ipv6/conf/default/disable_ipv6": "1",
	}); err != nil {
		return err
	}
	steps := [][]string{
		{"-n", br, "link", "set", "lo", "up"},
		{"-n", br, "link", "add", bridgeDev, "type", "bridge", "stp_state", "0", "forward_delay", "0", "mcast_snooping", "0"},
		{"-n", br, "link", "set", bridgeDev, "up"},
	}
	if err := ipSteps(steps); err != nil {
		return err
	}
	for i := 1; i <= n; i++ {
		if err := nt.addHost(i); err != nil {
			return fmt.Errorf("host %d: %w", i, err)
		}
	}
	for i := 1; i <= n; i++ {
		if err := nt.WaitReady(i); err != nil {
			return fmt.Errorf("host %d: %w", i, err)
		}
	}
	return nil
}

func (nt *Net) addHost(i int) error {
	h := Host{Index: i, NS: fmt.Sprintf("%sh%d", nt.prefix, i), Link: LinkName, MAC: hostMAC(i), V4: hostV4(i)}
	if !nt.opts.noIPv6 {
		h.V6 = hostV6(i)
	}
	if err := nt.addNS(h.NS); err != nil {
		return err
	}
	nt.hosts = append(nt.hosts, h)
	if nt.opts.noIPv6 {
		if err := nt.sysctls(i, map[string]string{
			"net/ipv6/conf/all/disable_ipv6":     "1",
			"net/ipv6/conf/default/disable_ipv6": "1",
		}); err != nil {
			return err
		}
	}
	port := fmt.Sprintf("h%d", i)
	steps := [][]string{
		{"-n", h.NS, "link", "set", "lo", "up"},
		{"-n", nt.bridge, "link", "add", port, "type", "veth", "peer", "name", LinkName, "netns", h.NS},
		{"-n", nt.bridge, "link", "set", port, "master", bridgeDev},
		{"-n", nt.bridge, "link", "set", port, "up"},
		{"-n", h.NS, "link", "set", LinkName, "address", h.MAC.String()},
		{"-n", h.NS, "addr", "add", h.V4.String(), "dev", LinkName},
	}
	if h.V6.IsValid() {
		steps = append(steps, []string{"-n", h.NS, "addr", "add", h.V6.String(), "dev", LinkName})
	}
	steps = append(steps,
		[]string{"-n", h.NS, "link", "set", LinkName, "up"},
		[]string{"-n", h.NS, "route", "add", "224.0.0.0/4", "dev", LinkName},
	)
	if err := ipSteps(steps); err != nil {
		return err
	}
	if h.V6.IsValid() {
		if err := ipCmd("-n", h.NS, "-6", "route", "add", "ff02::/16", "dev", LinkName); err != nil &&
			!strings.Contains(err.Error(), "File exists") {
			return err
		}
	}
	return nil
}

// WaitReady waits (at most 10 s) until host i's link is up with carrier,
// its bridge port forwards, and none of its addresses is tentative (IPv6
// duplicate address detection is over). It then records IfIndex and
// LinkLocal. Call it again after adding IPv6 addresses or after SetLinkUp.
func (nt *Net) WaitReady(i int) error {
	h := nt.host(i)
	deadline := time.Now().Add(readyTimeout)
	var last string
	for {
		info, err := nt.linkInfo(h.NS)
		if err == nil {
			last = info.notReady(h.V6.IsValid())
			if last == "" && nt.portForwarding(i) {
				nt.hosts[i-1].IfIndex = info.IfIndex
				nt.hosts[i-1].LinkLocal = info.linkLocal()
				return nil
			}
			if last == "" {
				last = "bridge port not forwarding"
			}
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %v: %s", h.NS, readyTimeout, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Len returns the number of hosts.
func (nt *Net) Len() int { return len(nt.hosts) }

// Prefix returns the name prefix of this Net's namespaces.
func (nt *Net) Prefix() string { return nt.prefix }

// Bridge returns the name of the bridge namespace (index 0 for Exec and
// Do).
func (nt *Net) Bridge() string { return nt.bridge }

// Host returns host i (1-based).
func (nt *Net) Host(i int) Host {
	h := nt.host(i)
	h.MAC = append(h.MAC[:0:0], h.MAC...)
	return h
}

func (nt *Net) host(i int) Host {
	if i < 1 || i > len(nt.hosts) {
		nt.t.Fatalf("netns: no host %d (have %d)", i, len(nt.hosts))
	}
	return nt.hosts[i-1]
}

// nsName returns the namespace of host i, or of the bridge for i == 0.
func (nt *Net) nsName(i int) string {
	if i == 0 {
		return nt.bridge
	}
	return nt.host(i).NS
}

// Exec returns a command that runs name in host i's namespace (0: the
// bridge namespace) via ip netns exec.
func (nt *Net) Exec(ctx context.Context, i int, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", nt.nsName(i), name}, args...)...)
}

// Do runs fn on the calling goroutine with its OS thread switched into host
// i's namespace (0: the bridge namespace), and switches back afterwards.
// Sockets opened by fn stay in that namespace; goroutines started by fn do
// not run in it. If switching back fails the thread stays locked, so the
// runtime destroys it when the goroutine ends.
func (nt *Net) Do(i int, fn func() error) error {
	target, err := vnetns.GetFromName(nt.nsName(i))
	if err != nil {
		return fmt.Errorf("netns: open %s: %w", nt.nsName(i), err)
	}
	defer target.Close()
	runtime.LockOSThread()
	orig, err := vnetns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netns: current namespace: %w", err)
	}
	defer orig.Close()
	if err := vnetns.Set(target); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netns: enter %s: %w", nt.nsName(i), err)
	}
	defer func() {
		if err := vnetns.Set(orig); err != nil {
			nt.t.Errorf("netns: cannot switch the thread back (left locked): %v", err)
			return
		}
		runtime.UnlockOSThread()
	}()
	return fn()
}

// sysctls writes /proc/sys entries inside namespace i (0: bridge).
func (nt *Net) sysctls(i int, kv map[string]string) error {
	return nt.Do(i, func() error {
		for k, v := range kv {
			if err := os.WriteFile("/proc/sys/"+k, []byte(v), 0o644); err != nil {
				return fmt.Errorf("sysctl %s in %s: %w", k, nt.nsName(i), err)
			}
		}
		return nil
	})
}

// AddAddr adds p to host i's lan0. An IPv6 address is tentative until DAD
// is over (WaitReady).
func (nt *Net) AddAddr(i int, p netip.Prefix) error {
	return ipCmd("-n", nt.host(i).NS, "addr", "add", p.String(), "dev", LinkName)
}

// DelAddr removes p from host i's lan0.
func (nt *Net) DelAddr(i int, p netip.Prefix) error {
	return ipCmd("-n", nt.host(i).NS, "addr", "del", p.String(), "dev", LinkName)
}

// SetLinkUp sets host i's lan0 administratively up or down.
func (nt *Net) SetLinkUp(i int, up bool) error {
	state := "down"
	if up {
		state = "up"
	}
	return ipCmd("-n", nt.host(i).NS, "link", "set", LinkName, state)
}

// Capture records the bridge's traffic to a pcap file with tcpdump until
// the returned stop is called or ctx ends (stop is also registered with
// t.Cleanup). It fails when tcpdump is not installed.
func (nt *Net) Capture(ctx context.Context, path string) (stop func() error, err error) {
	if _, err := exec.LookPath("tcpdump"); err != nil {
		return nil, errors.New("netns: tcpdump is not installed")
	}
	var stderr syncBuffer
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
	nt.t.Cleanup(func() { _ = stop() })
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

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// cleanup kills whatever still runs in the namespaces and deletes them.
func (nt *Net) cleanup() {
	nt.mu.Lock()
	nss := nt.nss
	nt.nss = nil
	nt.mu.Unlock()
	for i := len(nss) - 1; i >= 0; i-- {
		if err := removeNS(nss[i]); err != nil {
			nt.t.Errorf("netns: %v", err)
		}
	}
}

// removeNS kills the processes in the namespace (never this process) and
// deletes it.
func removeNS(name string) error {
	out, err := ipOutput("netns", "pids", name)
	if err == nil {
		for _, f := range strings.Fields(out) {
			pid, err := strconv.Atoi(f)
			if err != nil || pid == os.Getpid() || pid <= 1 {
				continue
			}
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	return ipCmd("netns", "del", name)
}

// Sweep deletes the namespaces left by crashed runs of this harness: those
// whose name starts with prefix (which must itself start with Prefix) and
// has the harness's form dsc-<pid>-<n>-…, where process pid is gone.
// Namespaces of live processes, and any other namespace, are never
// touched. It returns how many it removed.
func Sweep(prefix string) (int, error) {
	if !strings.HasPrefix(prefix, Prefix) {
		return 0, fmt.Errorf("netns: sweep prefix %q does not start with %q", prefix, Prefix)
	}
	out, err := ipOutput("netns", "list")
	if err != nil {
		return 0, err
	}
	removed := 0
	var errs []error
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], prefix) {
			continue
		}
		name := f[0]
		pid, ok := ownerPID(name)
		if !ok || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		if err := removeNS(name); err != nil {
			errs = append(errs, err)
			continue
		}
		removed++
	}
	return removed, errors.Join(errs...)
}

// ownerPID parses dsc-<pid>-<n>-….
func ownerPID(name string) (int, bool) {
	parts := strings.SplitN(strings.TrimPrefix(name, Prefix), "-", 3)
	if len(parts) < 3 {
		return 0, false
	}
	pid, err := strconv.Atoi(parts[0])
	if err != nil || pid <= 0 {
		return 0, false
	}
	if _, err := strconv.Atoi(parts[1]); err != nil {
		return 0, false
	}
	return pid, true
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

func ipSteps(steps [][]string) error {
	for _, s := range steps {
		if err := ipCmd(s...); err != nil {
			return err
		}
	}
	return nil
}

func ipCmd(args ...string) error {
	_, err := ipOutput(args...)
	return err
}

func ipOutput(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "ip", args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}
