package peers

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chorus-services/discovery/internal/netns"
)

// Avahi is an avahi-daemon running in one host namespace with its own
// D-Bus system bus (a dbus-daemon listening on a socket in the test's
// temporary directory), so avahi-browse and avahi-publish work without the
// machine's bus. Its config directory is bind-mounted over /etc/avahi and a
// tmpfs over /run inside the private mount namespace of `ip netns exec`.
type Avahi struct {
	nt      *netns.Net
	host    int
	dir     string
	busAddr string
	Daemon  *Proc
	bus     *Proc
}

// StartAvahi starts dbus-daemon and avahi-daemon (host name hostName,
// interface lan0, IPv4 and IPv6) in host namespace i and waits until the
// daemon reports that its startup is complete.
func StartAvahi(t testing.TB, nt *netns.Net, i int, hostName string) *Avahi {
	t.Helper()
	Require(t, "avahi-daemon", "avahi-browse", "avahi-publish", "dbus-daemon")
	a := &Avahi{nt: nt, host: i, dir: t.TempDir()}
	etc := filepath.Join(a.dir, "etc")
	if err := os.MkdirAll(filepath.Join(etc, "services"), 0o755); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(a.dir, "dbus.sock")
	a.busAddr = "unix:path=" + sock
	busConf := fmt.Sprintf(`<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=%s</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
`, sock)
	conf := fmt.Sprintf(`[server]
host-name=%s
domain-name=local
use-ipv4=yes
use-ipv6=yes
allow-interfaces=%s
enable-dbus=yes
ratelimit-interval-usec=1000000
ratelimit-burst=1000
[wide-area]
enable-wide-area=no
[publish]
publish-hinfo=no
publish-workstation=no
publish-addresses=yes
[reflector]
enable-reflector=no
[rlimits]
`, hostName, netns.LinkName)
	for name, body := range map[string]string{filepath.Join(a.dir, "dbus.conf"): busConf, filepath.Join(etc, "avahi-daemon.conf"): conf, filepath.Join(etc, "hosts"): ""} {
		if err := os.WriteFile(name, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	a.bus = Start(t, "dbus@h"+itoa(i), nt.Exec(t.Context(), i, "dbus-daemon", "--config-file="+filepath.Join(a.dir, "dbus.conf"), "--nofork", "--nopidfile"))
	if !waitUntil(10*time.Second, func() bool { _, err := os.Stat(sock); return err == nil }) {
		t.Fatalf("dbus-daemon did not create %s: %s", sock, a.bus.Stderr())
	}
	script := fmt.Sprintf("mount -t tmpfs -o size=1m tmpfs /run && mount --bind '%s' /etc/avahi && exec avahi-daemon --no-drop-root --no-chroot --no-rlimits --no-proc-title --debug -f /etc/avahi/avahi-daemon.conf", etc)
	cmd := nt.Exec(t.Context(), i, "sh", "-c", script)
	cmd.Env = append(os.Environ(), "DBUS_SYSTEM_BUS_ADDRESS="+a.busAddr)
	a.Daemon = Start(t, "avahi-daemon@h"+itoa(i), cmd)
	if !waitUntil(15*time.Second, func() bool { return strings.Contains(a.Daemon.Stderr(), "Server startup complete") }) {
		t.Fatalf("avahi-daemon did not start:\n%s", a.Daemon.Stderr())
	}
	return a
}

func waitUntil(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return cond()
}

// Command returns a command (avahi-resolve, avahi-browse …) run in the
// daemon's namespace against its bus.
func (a *Avahi) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return a.command(ctx, name, args...)
}

func (a *Avahi) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := a.nt.Exec(ctx, a.host, name, args...)
	cmd.Env = append(os.Environ(), "DBUS_SYSTEM_BUS_ADDRESS="+a.busAddr)
	return cmd
}

// Resolved is one line of `avahi-browse -r -p`.
type Resolved struct {
	Iface, Proto, Name, Type, Domain, Host, Addr string
	Port                                         int
	TXT                                          []string
}

// Browse runs `avahi-browse -r -t -p <service>` until it has resolved what
// it can (or ctx ends) and returns the resolved lines.
func (a *Avahi) Browse(ctx context.Context, service string) ([]Resolved, string, error) {
	out, err := a.command(ctx, "avahi-browse", "-r", "-t", "-p", service).CombinedOutput()
	var res []Resolved
	for _, line := range strings.Split(string(out), "\n") {
		if r, ok := parseResolved(line); ok {
			res = append(res, r)
		}
	}
	return res, string(out), err
}

// parseResolved parses "=;iface;proto;name;type;domain;host;addr;port;txt".
func parseResolved(line string) (Resolved, bool) {
	f := strings.SplitN(line, ";", 10)
	if len(f) != 10 || f[0] != "=" {
		return Resolved{}, false
	}
	port, _ := strconv.Atoi(f[8])
	return Resolved{Iface: f[1], Proto: f[2], Name: f[3], Type: f[4], Domain: f[5], Host: f[6], Addr: f[7], Port: port, TXT: parseTXT(f[9])}, true
}

// parseTXT splits avahi-browse's `"a" "b"` TXT rendering.
func parseTXT(s string) []string {
	var out []string
	for {
		i := strings.IndexByte(s, '"')
		if i < 0 {
			return out
		}
		s = s[i+1:]
		var b strings.Builder
		j := 0
		for ; j < len(s) && s[j] != '"'; j++ {
			if s[j] == '\\' && j+1 < len(s) {
				j++
			}
			b.WriteByte(s[j])
		}
		out = append(out, b.String())
		if j >= len(s) {
			return out
		}
		s = s[j+1:]
	}
}

// Publish runs `avahi-publish -s NAME SERVICE PORT TXT...` until cleanup and
// waits until avahi reports the service established.
func (a *Avahi) Publish(t testing.TB, name, service string, port int, txt ...string) *Proc {
	t.Helper()
	args := append([]string{"-s", name, service, strconv.Itoa(port)}, txt...)
	p := Start(t, "avahi-publish@h"+itoa(a.host), a.command(t.Context(), "avahi-publish", args...))
	if !waitUntil(15*time.Second, func() bool { return strings.Contains(p.Output()+p.Stderr(), "Established") }) {
		t.Fatalf("avahi-publish did not establish %q: %s %s", name, p.Output(), p.Stderr())
	}
	return p
}
