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
	"strings"
	"sync"
	"sync/atomic"
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
	t      testing.TB // nil when built by Build
	prefix string
	bridge string
	hosts  []Host
	opts   options

	mu      sync.Mutex
	nss     []string // created namespaces, for cleanup
	closers []func() // run by Close before the namespaces go (Build only)
	closed  bool
}

// New builds a LAN of n hosts (1 ≤ n ≤ MaxHosts) for the test and registers
// its removal with t.Cleanup. It skips the test when not root, when the ip
// command is missing or when namespaces cannot be created here. It returns
// once every host is ready (WaitReady).
func New(t testing.TB, n int, opts ...Option) *Net {
	t.Helper()
	if testing.Short() {
		t.Skip("namespace tests do not run with -short")
	}
	if err := Available(); err != nil {
		skip(t, strings.TrimPrefix(err.Error(), "netns: "))
	}
	if n < 1 || n > MaxHosts {
		t.Fatalf("netns: %d hosts, want 1…%d", n, MaxHosts)
	}
	if removed, err := Sweep(Prefix); err != nil {
		t.Logf("netns: sweeping stale namespaces: %v", err)
	} else if removed > 0 {
		t.Logf("netns: removed %d stale namespaces", removed)
	}
	nt, err := build(t, n, opts)
	if err != nil {
		if errors.Is(err, ErrUnavailable) {
			skip(t, err.Error())
		}
		t.Fatalf("netns: %v", err)
	}
	t.Cleanup(func() {
		if err := nt.Close(); err != nil {
			t.Errorf("%v", err)
		}
	})
	return nt
}

// ErrUnavailable is wrapped by the errors of Available and Build when
// namespaces cannot be created on this machine (not root, no ip command, no
// permission).
var ErrUnavailable = errors.New("network namespaces unavailable")

// Available reports (wrapping ErrUnavailable) why this process cannot
// build namespace LANs, or nil when it can try.
func Available() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("netns: needs root to create network namespaces: %w", ErrUnavailable)
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return fmt.Errorf("netns: needs the ip command (iproute2) to create network namespaces: %w", ErrUnavailable)
	}
	return nil
}

// Build is New for programs: it builds a LAN of n hosts (1 ≤ n ≤ MaxHosts)
// and returns it; the caller must Close it. On error nothing is left
// behind. It does not Sweep: programs call Sweep themselves.
func Build(n int, opts ...Option) (*Net, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	if n < 1 || n > MaxHosts {
		return nil, fmt.Errorf("netns: %d hosts, want 1…%d", n, MaxHosts)
	}
	return build(nil, n, opts)
}

func build(t testing.TB, n int, opts []Option) (*Net, error) {
	nt := &Net{t: t, prefix: fmt.Sprintf("%s%d-%d-", Prefix, os.Getpid(), counter.Add(1))}
	for _, o := range opts {
		o(&nt.opts)
	}
	nt.bridge = nt.prefix + "br"
	err := nt.addNS(nt.bridge)
	if err != nil && isPermission(err) {
		err = fmt.Errorf("cannot create network namespaces here: %v: %w", err, ErrUnavailable)
	}
	if err == nil {
		err = nt.build(n)
	}
	if err != nil {
		if cerr := nt.Close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
		return nil, err
	}
	return nt, nil
}

// Close stops what Capture started (for a Net from Build), kills whatever
// still runs in the namespaces and deletes them. A Net from New is closed
// by the test's cleanup. Close is safe to call more than once.
func (nt *Net) Close() error {
	nt.mu.Lock()
	closers, nss := nt.closers, nt.nss
	nt.closers, nt.nss, nt.closed = nil, nil, true
	nt.mu.Unlock()
	for i := len(closers) - 1; i >= 0; i-- {
		closers[i]()
	}
	errs := make([]error, len(nss))
	sem := make(chan struct{}, buildParallelism)
	var wg sync.WaitGroup
	for i := range nss {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := removeNS(nss[i]); err != nil {
				errs[i] = fmt.Errorf("netns: %w", err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// onClose runs f at Close (Build) or at the test's cleanup (New).
func (nt *Net) onClose(f func()) {
	if nt.t != nil {
		nt.t.Cleanup(f)
		return
	}
	nt.mu.Lock()
	closed := nt.closed
	if !closed {
		nt.closers = append(nt.closers, f)
	}
	nt.mu.Unlock()
	if closed {
		f()
	}
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

// buildParallelism bounds the hosts set up at once: each step is an ip
// process, and a LAN of 30 hosts takes several hundred of them.
const buildParallelism = 8

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
	nt.hosts = make([]Host, n)
	for i := 1; i <= n; i++ {
		nt.hosts[i-1] = Host{Index: i, NS: fmt.Sprintf("%sh%d", nt.prefix, i), Link: LinkName, MAC: hostMAC(i), V4: hostV4(i)}
		if !nt.opts.noIPv6 {
			nt.hosts[i-1].V6 = hostV6(i)
		}
	}
	errs := make([]error, n)
	sem := make(chan struct{}, buildParallelism)
	var wg sync.WaitGroup
	for i := 1; i <= n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := nt.addHost(i); err != nil {
				errs[i-1] = fmt.Errorf("host %d: %w", i, err)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	// Sequentially: the hosts become ready together, and polling them
	// all at once would only add ip processes.
	for i := 1; i <= n; i++ {
		if err := nt.WaitReady(i); err != nil {
			return fmt.Errorf("host %d: %w", i, err)
		}
	}
	return nil
}

func (nt *Net) addHost(i int) error {
	h := nt.hosts[i-1]
	if err := nt.addNS(h.NS); err != nil {
		return err
	}
	kv := map[string]string{}
	if nt.opts.noIPv6 {
		kv["net/ipv6/conf/all/disable_ipv6"] = "1"
		kv["net/ipv6/conf/default/disable_ipv6"] = "1"
	} else if nt.opts.noDAD {
		// Before lan0 moves in: a device entering a namespace takes its
		// IPv6 settings from that namespace's default.
		kv["net/ipv6/conf/all/accept_dad"] = "0"
		kv["net/ipv6/conf/default/accept_dad"] = "0"
	}
	if len(kv) > 0 {
		if err := nt.sysctls(i, kv); err != nil {
			return err
		}
	}
	// Two ip processes (batches), not one per step: under load, process
	// start-up is what makes a large LAN slow to build.
	port := fmt.Sprintf("h%d", i)
	if err := ipBatch(nt.bridge, [][]string{
		{"link", "add", port, "type", "veth", "peer", "name", LinkName, "netns", h.NS},
		{"link", "set", port, "master", bridgeDev},
		{"link", "set", port, "up"},
	}); err != nil {
		return err
	}
	steps := [][]string{
		{"link", "set", "lo", "up"},
		{"link", "set", LinkName, "address", h.MAC.String()},
		{"addr", "add", h.V4.String(), "dev", LinkName},
	}
	if h.V6.IsValid() {
		steps = append(steps, []string{"addr", "add", h.V6.String(), "dev", LinkName})
	}
	steps = append(steps,
		[]string{"link", "set", LinkName, "up"},
		[]string{"route", "add", "224.0.0.0/4", "dev", LinkName},
	)
	if err := ipBatch(h.NS, steps); err != nil {
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
		if nt.t != nil {
			nt.t.Fatalf("netns: no host %d (have %d)", i, len(nt.hosts))
		}
		panic(fmt.Sprintf("netns: no host %d (have %d)", i, len(nt.hosts)))
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
func (nt *Net) Do(i int, fn func() error) (err error) {
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
		if serr := vnetns.Set(orig); serr != nil {
			if nt.t != nil {
				nt.t.Errorf("netns: cannot switch the thread back (left locked): %v", serr)
				return
			}
			err = errors.Join(err, fmt.Errorf("netns: cannot switch the thread back (left locked): %w", serr))
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

func ipSteps(steps [][]string) error {
	for _, s := range steps {
		if err := ipCmd(s...); err != nil {
			return err
		}
	}
	return nil
}

// ipBatch runs the commands in namespace ns with one ip process; it stops
// at the first that fails.
func ipBatch(ns string, cmds [][]string) error {
	var script strings.Builder
	for _, c := range cmds {
		script.WriteString(strings.Join(c, " "))
		script.WriteByte('\n')
	}
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "ip", "-n", ns, "-batch", "-")
	cmd.Stdin = strings.NewReader(script.String())
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("ip -n %s -batch: %w: %s (script:\n%s)", ns, err, strings.TrimSpace(stderr.String()), script.String())
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
