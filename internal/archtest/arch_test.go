package archtest

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/chorus-services/discovery"

type pkg struct {
	Name         string
	ImportPath   string
	Dir          string
	GoFiles      []string
	Imports      []string
	TestImports  []string
	XTestImports []string
	Deps         []string
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	touchSources(t)
	cmd := exec.Command("go", "list", "-deps=false", "-json", module+"/...")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	var pkgs []pkg
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 3 {
		t.Fatalf("only %d packages listed", len(pkgs))
	}
	return pkgs
}

// touchSources reads every directory and Go file of the module so that the
// go test cache (which tracks files a test opens, not what a subprocess
// reads) is invalidated by any source change.
func touchSources(t *testing.T) {
	t.Helper()
	err := filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".")) && path != "../.." {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") {
			_, err = os.ReadFile(path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The layers of the library, as the README draws them (imports point
// down only):
//
//	mdns (0) ← mdns/transport (1) ← responder, browser (2) ← discovery (4) ← programs (5)
//	                                 dialer (2: imports nothing of this module)
const (
	layerMdns      = 0
	layerTransport = 1
	layerProtocol  = 2 // responder, browser, dialer
	layerFacade    = 4
	layerProgram   = 5 // cmd, the interop peers, every main package
	layerHelper    = -1
)

// layer returns the rank of a module package in the dependency direction,
// or layerHelper for internal helpers (ranked by what they import: see
// helperLayers).
func layer(path string) int {
	rel := strings.TrimPrefix(strings.TrimPrefix(path, module), "/")
	switch {
	case rel == "mdns":
		return layerMdns
	case strings.HasPrefix(rel, "mdns/transport"):
		return layerTransport
	case strings.HasPrefix(rel, "responder"), strings.HasPrefix(rel, "browser"), strings.HasPrefix(rel, "dialer"):
		return layerProtocol
	case rel == "":
		return layerFacade
	case strings.HasPrefix(rel, "cmd"):
		// Programs: the CLI and the tools (the interop peers and every
		// other main package are programs too; see the callers).
		return layerProgram
	}
	return layerHelper
}

func isDialer(path string) bool { return strings.HasPrefix(path, module+"/dialer") }

// helperLayers ranks each internal helper package by the highest layer
// its non-test code imports (through other helpers too): a helper that
// imports memnet sits at the transport layer, and only packages at or
// above it may use it.
func helperLayers(pkgs []pkg) map[string]int {
	imports := map[string][]string{}
	for _, p := range pkgs {
		imports[p.ImportPath] = p.Imports
	}
	out := map[string]int{}
	var rank func(path string, seen map[string]bool) int
	rank = func(path string, seen map[string]bool) int {
		if l := layer(path); l != layerHelper {
			return l
		}
		if l, ok := out[path]; ok {
			return l
		}
		if seen[path] {
			return layerMdns
		}
		seen[path] = true
		l := layerMdns
		for _, imp := range imports[path] {
			if strings.HasPrefix(imp, module) {
				l = max(l, rank(imp, seen))
			}
		}
		out[path] = l
		return l
	}
	for _, p := range pkgs {
		rank(p.ImportPath, map[string]bool{})
	}
	return out
}

// TestDependencyDirection: imports point down only, in the library's code
// and in its tests; responder and browser never import each other; the
// dialer imports nothing of this module (its tests only the helpers that
// import nothing of it either: internal/testkit); internal helpers import
// no protocol layer.
func TestDependencyDirection(t *testing.T) {
	pkgs := listPackages(t)
	helpers := helperLayers(pkgs)
	rank := func(path string) int {
		if l := layer(path); l != layerHelper {
			return l
		}
		return helpers[path]
	}
	// selfContained are the internal helpers that import nothing of this
	// module (internal/testkit): the dialer's tests may use them.
	selfContained := map[string]bool{}
	for _, p := range pkgs {
		if layer(p.ImportPath) == layerHelper && !slices.ContainsFunc(p.Imports, func(imp string) bool { return strings.HasPrefix(imp, module) }) {
			selfContained[p.ImportPath] = true
		}
	}
	for _, p := range pkgs {
		me := layer(p.ImportPath)
		if p.Name == "main" {
			me = layerProgram
		}
		check := func(imp, what string) {
			if !strings.HasPrefix(imp, module) {
				return
			}
			them := rank(imp)
			switch {
			case me == layerHelper && them >= layerProtocol && what == "imports":
				t.Errorf("internal helper %s imports %s", p.ImportPath, imp)
			case me == layerHelper:
			case isDialer(p.ImportPath) && !isDialer(imp) && !(what != "imports" && selfContained[imp]):
				t.Errorf("%s %s %s: the dialer imports nothing of this module", p.ImportPath, what, imp)
			case them > me:
				t.Errorf("%s (layer %d) %s %s (layer %d): imports go downwards only", p.ImportPath, me, what, imp, them)
			case me == layerProtocol && layer(imp) == layerProtocol && !sameTop(p.ImportPath, imp):
				t.Errorf("%s %s %s: responder, browser and dialer never import each other", p.ImportPath, what, imp)
			}
		}
		for _, imp := range p.Imports {
			check(imp, "imports")
		}
		// Test files obey the layers too (the helpers' own tests are
		// integration suites and may use anything).
		for _, imp := range append(append([]string(nil), p.TestImports...), p.XTestImports...) {
			if imp != p.ImportPath {
				check(imp, "imports in its tests")
			}
		}
	}
}

// libp2pHost are the packages only dialer, the facade and cmd may import
// (directly or through a dependency).
func isLibp2pHost(p string) bool {
	return p == "github.com/libp2p/go-libp2p" ||
		strings.HasPrefix(p, "github.com/libp2p/go-libp2p/core/host") ||
		strings.HasPrefix(p, "github.com/libp2p/go-libp2p/core/network") ||
		strings.HasPrefix(p, "github.com/libp2p/go-libp2p/p2p/host") ||
		strings.HasPrefix(p, "github.com/libp2p/go-libp2p/p2p/net")
}

func sameTop(a, b string) bool {
	top := func(s string) string {
		s = strings.TrimPrefix(strings.TrimPrefix(s, module), "/")
		if i := strings.IndexByte(s, '/'); i >= 0 {
			return s[:i]
		}
		return s
	}
	return top(a) == top(b)
}

func deps(t *testing.T, path string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", path).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", path, err)
	}
	return strings.Fields(string(out))
}

func TestMdnsIsPure(t *testing.T) {
	forbidden := map[string]string{
		"net": "sockets", "syscall": "sockets", "golang.org/x/net/ipv4": "sockets", "golang.org/x/net/ipv6": "sockets",
		"time": "the clock", "log": "logging", "log/slog": "logging", "os": "I/O", "flag": "flags",
	}
	for _, p := range listPackages(t) {
		if p.ImportPath != module+"/mdns" {
			continue
		}
		for _, imp := range p.Imports {
			if why, bad := forbidden[imp]; bad {
				t.Errorf("mdns imports %s (%s): it must stay pure", imp, why)
			}
		}
		return
	}
	t.Fatal("package mdns not found")
}

func TestLibp2pHostOnlyAtTheTop(t *testing.T) {
	for _, p := range listPackages(t) {
		if l := layer(p.ImportPath); l >= layerFacade || p.Name == "main" || isDialer(p.ImportPath) {
			continue
		}
		for _, d := range deps(t, p.ImportPath) {
			if isLibp2pHost(d) {
				t.Errorf("%s depends on %s: only dialer, the facade and cmd may", p.ImportPath, d)
				break
			}
		}
	}
}

// TestNoGlobalSideEffects scans the non-test sources of every package but
// cmd for flags, os.Exit, the global loggers and printing.
func TestNoGlobalSideEffects(t *testing.T) {
	banned := map[string]map[string]bool{
		"os":   {"Exit": true},
		"fmt":  {"Print": true, "Printf": true, "Println": true},
		"log":  {"*": true},
		"slog": {"SetDefault": true, "Default": true, "Info": true, "Warn": true, "Error": true, "Debug": true, "Log": true, "InfoContext": true, "WarnContext": true, "ErrorContext": true, "DebugContext": true},
		"flag": {"*": true},
	}
	for _, p := range listPackages(t) {
		if layer(p.ImportPath) == layerProgram || p.Name == "main" || strings.Contains(p.ImportPath, "/internal/archtest") {
			continue
		}
		for _, f := range p.GoFiles {
			fset := token.NewFileSet()
			file, err := parser.ParseFile(fset, filepath.Join(p.Dir, f), nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(file, func(n ast.Node) bool {
				sel, ok := n.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				id, ok := sel.X.(*ast.Ident)
				if !ok || id.Obj != nil { // a local variable, not a package
					return true
				}
				if names, ok := banned[id.Name]; ok && (names["*"] || names[sel.Sel.Name]) {
					t.Errorf("%s: %s.%s in library code", fset.Position(sel.Pos()), id.Name, sel.Sel.Name)
				}
				return true
			})
		}
	}
}
