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
	"strings"
	"testing"
)

const module = "github.com/chorus-services/discovery"

type pkg struct {
	Name       string
	ImportPath string
	Dir        string
	GoFiles    []string
	Imports    []string
	Deps       []string
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

// layer returns the rank of a module package in the dependency direction,
// or -1 for internal helpers.
func layer(path string) int {
	rel := strings.TrimPrefix(strings.TrimPrefix(path, module), "/")
	switch {
	case rel == "mdns":
		return 0
	case strings.HasPrefix(rel, "mdns/transport"):
		return 1
	case strings.HasPrefix(rel, "responder"), strings.HasPrefix(rel, "browser"):
		return 2
	case strings.HasPrefix(rel, "dialer"):
		return 3
	case rel == "":
		return 4
	case strings.HasPrefix(rel, "cmd"), strings.HasPrefix(rel, "internal/interop"):
		// Programs: the CLI and the interop peers the tests run.
		return 5
	}
	return -1
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

func TestDependencyDirection(t *testing.T) {
	for _, p := range listPackages(t) {
		me := layer(p.ImportPath)
		if p.Name == "main" {
			me = 5 // a program: at the top, like cmd
		}
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, module) {
				continue
			}
			them := layer(imp)
			switch {
			case me >= 0 && them > me:
				t.Errorf("%s (layer %d) imports %s (layer %d): imports go downwards only", p.ImportPath, me, imp, them)
			case me == -1 && them >= 2:
				t.Errorf("internal helper %s imports %s", p.ImportPath, imp)
			case me == 2 && them == 2 && !sameTop(p.ImportPath, imp):
				t.Errorf("%s imports %s: responder and browser never import each other", p.ImportPath, imp)
			}
		}
	}
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
		if l := layer(p.ImportPath); l >= 3 || p.Name == "main" {
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
		if layer(p.ImportPath) == 5 || p.Name == "main" || strings.Contains(p.ImportPath, "/internal/archtest") {
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
