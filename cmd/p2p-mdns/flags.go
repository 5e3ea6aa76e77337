package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/chorus-services/discovery/mdns"
)

// fallbackVersion is reported when the binary carries no module version
// (a build outside a module or VCS checkout). Keep it in step with the
// newest CHANGELOG.md entry.
const fallbackVersion = "v0.1.0-dev"

// version is the module version of the binary (set by `go install
// …@vX.Y.Z`, or a pseudo-version from the VCS checkout it was built in),
// with the VCS revision when known, and the Go version.
func version() string {
	v, rev, dirty := fallbackVersion, "", false
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev != "" && !strings.Contains(v, rev) {
		if dirty {
			rev += ", modified"
		}
		v += " (" + rev + ")"
	}
	return v + " " + runtime.Version()
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// common holds the flags every networked command shares.
type common struct {
	ifaces   stringList
	ipv4     bool
	ipv6     bool
	loopback bool
	service  string
	duration time.Duration
	jsonOut  bool
	wide     bool
	logLevel string
}

func (c *common) register(fs *flagSet) {
	fs.Var(&c.ifaces, "iface", "interface to use (repeatable; default: all up, multicast-capable, non-loopback)")
	fs.BoolVar(&c.ipv4, "ipv4", true, "use IPv4 (224.0.0.251)")
	fs.BoolVar(&c.ipv6, "ipv6", true, "use IPv6 (ff02::fb)")
	fs.BoolVar(&c.loopback, "loopback", false, "include loopback interfaces when no --iface is given")
	fs.StringVar(&c.service, "service", "", "libp2p service tag (default _p2p._udp, go-libp2p's; a tag T is announced as T.local.)")
	fs.DurationVar(&c.duration, "duration", 0, "exit cleanly, with goodbyes, after this long (0: run until Ctrl-C)")
	c.registerOutput(fs)
}

// registerOutput registers the output flags (every command has them).
func (c *common) registerOutput(fs *flagSet) {
	fs.BoolVar(&c.jsonOut, "json", false, "print one JSON object per line (stable schema: README, go doc …/cmd/p2p-mdns)")
	fs.BoolVar(&c.wide, "wide", false, "print whole peer IDs and every address (the default when stdout is not a terminal)")
	fs.StringVar(&c.logLevel, "log-level", "warn", "log level: debug, info, warn, error")
}

// commonFlags returns the flag set of command name with the common flags
// registered in c.
func commonFlags(name string, stdout io.Writer) (fs *flagSet, c *common) {
	fs, c = newFlagSet(name, stdout), new(common)
	c.register(fs)
	return fs, c
}

// parse parses args, which must hold flags only, and checks the common
// flags (check): it returns the fully qualified service name.
func (c *common) parse(fs *flagSet, args []string) (string, error) {
	if err := fs.noArgs(args); err != nil {
		return "", err
	}
	return c.check()
}

// check validates the flags of common before anything starts: every bad
// value is a usage error. It returns the fully qualified service name.
func (c *common) check() (string, error) {
	if err := c.checkLogLevel(); err != nil {
		return "", err
	}
	service, err := mdns.ServiceName(c.service)
	if err != nil {
		return "", usageError{fmt.Errorf("--service %q: %v", c.service, err)}
	}
	if !c.ipv4 && !c.ipv6 {
		return "", usageError{errors.New("--ipv4=false and --ipv6=false leave nothing to listen on")}
	}
	if c.duration < 0 {
		return "", usageError{fmt.Errorf("--duration %v: must not be negative", c.duration)}
	}
	if err := checkIfaces(c.ifaces); err != nil {
		return "", err
	}
	return service, nil
}

func (c *common) checkLogLevel() error {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.logLevel)); err != nil {
		return usageError{fmt.Errorf("--log-level %q: want debug, info, warn or error", c.logLevel)}
	}
	return nil
}

// checkIfaces checks that every named interface exists (it may be down:
// discovery starts on it when it comes up).
func checkIfaces(names []string) error {
	if len(names) == 0 {
		return nil
	}
	all, err := net.Interfaces()
	if err != nil {
		return fmt.Errorf("list interfaces: %w", err)
	}
	have := make([]string, 0, len(all))
	for _, ifc := range all {
		have = append(have, ifc.Name)
	}
	for _, n := range names {
		found := false
		for _, h := range have {
			found = found || h == n
		}
		if !found {
			return usageError{fmt.Errorf("--iface %s: no such interface (have: %s)", n, strings.Join(have, ", "))}
		}
	}
	return nil
}

func (c *common) logger(stderr io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.logLevel)) // checked by check / checkLogLevel
	l := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl}))
	slog.SetDefault(l)
	routeLibp2pLogs(l, lvl)
	return l
}

// withDuration bounds ctx by --duration.
func (c *common) withDuration(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.duration > 0 {
		return context.WithTimeout(ctx, c.duration)
	}
	return context.WithCancel(ctx)
}

// short reports whether human output to w is shortened: a terminal, and
// neither --wide nor --json.
func (c *common) short(w io.Writer) bool {
	return !c.wide && !c.jsonOut && isTerminal(w)
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0 && st.Mode()&os.ModeDevice != 0
}
