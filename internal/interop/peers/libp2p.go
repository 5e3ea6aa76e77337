package peers

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/chorus-services/discovery/internal/netns"
)

// CacheDir is where internal/interop/setup.sh keeps what it builds
// (DISCOVERY_CACHE, default /var/cache/discovery): outside the clone, so a
// later run on the same machine reuses it.
func CacheDir() string {
	if d := os.Getenv("DISCOVERY_CACHE"); d != "" {
		return d
	}
	return "/var/cache/discovery"
}

// RequireFile skips (or, under DISCOVERY_REQUIRE_INTEROP=1, fails) the test
// when path does not exist; how says what makes it.
func RequireFile(t testing.TB, path, how string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("DISCOVERY_REQUIRE_INTEROP") == "1" {
			t.Fatalf("%s is required (DISCOVERY_REQUIRE_INTEROP=1) but missing: run %s", path, how)
		}
		t.Skipf("%s is missing: run %s", path, how)
	}
}

// RustNodeBin returns the rust-libp2p node (internal/interop/rust-node)
// built by `cargo build --locked --release` into the cache's target
// directory (CARGO_TARGET_DIR when set), as internal/interop/setup.sh rust
// builds it.
func RustNodeBin() string {
	target := os.Getenv("CARGO_TARGET_DIR")
	if target == "" {
		target = filepath.Join(CacheDir(), "cargo-target")
	}
	return filepath.Join(target, "release", "rust-node")
}

var rustBuild struct {
	once sync.Once
	err  error
	out  []byte
}

// RustNode starts the rust-libp2p node (libp2p-mdns, TCP + noise + yamux)
// in host namespace i: rust-node [--duration S] [--ipv6] [--no-dial]
// [--listen MA]... When cargo is on PATH it first runs `cargo build
// --locked --release` once per test binary (a no-op when up to date), so
// a changed main.rs is not tested stale.
func RustNode(t testing.TB, nt *netns.Net, i int, args ...string) *Proc {
	t.Helper()
	bin := RustNodeBin()
	if cargo, err := exec.LookPath("cargo"); err == nil {
		rustBuild.once.Do(func() {
			cmd := exec.Command(cargo, "build", "--locked", "--release", "--quiet")
			cmd.Dir = filepath.Join(interopDir(), "rust-node")
			cmd.Env = append(os.Environ(), "CARGO_TARGET_DIR="+filepath.Dir(filepath.Dir(bin)))
			rustBuild.out, rustBuild.err = cmd.CombinedOutput()
		})
		if rustBuild.err != nil {
			t.Fatalf("cargo build rust-node: %v\n%s", rustBuild.err, rustBuild.out)
		}
	}
	RequireFile(t, bin, "internal/interop/setup.sh rust")
	return Start(t, "rust-libp2p@h"+itoa(i), nt.Exec(t.Context(), i, bin, args...))
}

// PyVenv returns the venv internal/interop/setup.sh py makes for the pinned
// requirements of internal/interop/pylibp2p (its name carries their hash,
// so a changed pin gets a new venv).
func PyVenv() string {
	raw, err := os.ReadFile(filepath.Join(interopDir(), "pylibp2p", "requirements.txt"))
	if err != nil {
		return filepath.Join(CacheDir(), "pyvenv-missing")
	}
	sum := sha256.Sum256(raw)
	return filepath.Join(CacheDir(), "pyvenv-"+hex.EncodeToString(sum[:])[:12])
}

// PyNode starts the py-libp2p node (its python-zeroconf mDNS, TCP) in host
// namespace i: node.py [--duration S] [--no-dial] [--listen MA]...
func PyNode(t testing.TB, nt *netns.Net, i int, args ...string) *Proc {
	t.Helper()
	venv := PyVenv()
	RequireFile(t, filepath.Join(venv, ".complete"), "internal/interop/setup.sh py")
	script := filepath.Join(interopDir(), "pylibp2p", "node.py")
	cmd := nt.Exec(t.Context(), i, filepath.Join(venv, "bin", "python"), append([]string{"-u", script}, args...)...)
	return Start(t, "py-libp2p@h"+itoa(i), cmd)
}
