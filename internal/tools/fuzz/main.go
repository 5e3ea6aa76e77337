// Command fuzz runs every fuzz target of the module, one after the other,
// each for the given time, and fails if any finds a crasher.
//
//	go run ./internal/tools/fuzz -time 20s            # CI smoke
//	go run ./internal/tools/fuzz -time 10m -run Decode  # hours: -time 2h
//
// It lists the targets with `go test -list '^Fuzz'` per package, so new
// targets are picked up without editing this file. Crashers are written by
// the Go toolchain to the package's testdata/fuzz/<Target>/ directory.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"time"
)

var errNoCrasher = errors.New("fuzzing failed without writing a failing input")

// fuzzOnce runs one target, echoing its output.
func fuzzOnce(pkg, name string, d time.Duration) error {
	var out bytes.Buffer
	cmd := exec.Command("go", "test", "-run", "^$", "-fuzz", "^"+name+"$", "-fuzztime", d.String(), "-fuzzminimizetime", "10s", pkg)
	cmd.Stdout = io.MultiWriter(os.Stdout, &out)
	cmd.Stderr = cmd.Stdout
	err := cmd.Run()
	if err != nil && !strings.Contains(out.String(), "Failing input written to") {
		return fmt.Errorf("%w: %v", errNoCrasher, err)
	}
	return err
}

func main() {
	d := flag.Duration("time", 20*time.Second, "fuzzing time per target")
	run := flag.String("run", "", "only targets matching this regexp")
	pkgs := flag.String("pkgs", "./...", "packages to search for targets")
	flag.Parse()
	var re *regexp.Regexp
	if *run != "" {
		var err error
		if re, err = regexp.Compile(*run); err != nil {
			fmt.Fprintln(os.Stderr, "fuzz: -run:", err)
			os.Exit(2)
		}
	}
	list, err := exec.Command("go", "list", *pkgs).Output()
	if err != nil {
		fmt.Fprintln(os.Stderr, "fuzz: go list:", err)
		os.Exit(1)
	}
	type target struct{ pkg, name string }
	var targets []target
	for _, pkg := range strings.Fields(string(list)) {
		out, err := exec.Command("go", "test", "-list", "^Fuzz", pkg).Output()
		if err != nil {
			fmt.Fprintf(os.Stderr, "fuzz: listing %s: %v\n", pkg, err)
			os.Exit(1)
		}
		sc := bufio.NewScanner(bytes.NewReader(out))
		for sc.Scan() {
			if name := sc.Text(); strings.HasPrefix(name, "Fuzz") && (re == nil || re.MatchString(name)) {
				targets = append(targets, target{pkg, name})
			}
		}
	}
	if len(targets) == 0 {
		fmt.Fprintln(os.Stderr, "fuzz: no targets")
		os.Exit(1)
	}
	failed := 0
	for _, t := range targets {
		fmt.Printf("=== %s %s for %s\n", t.pkg, t.name, *d)
		err := fuzzOnce(t.pkg, t.name, *d)
		if errors.Is(err, errNoCrasher) {
			// Go's fuzzer can fail at the deadline without having found
			// anything (a shutdown race: no input is written). Only a
			// failure that writes a crasher is a finding; retry once.
			fmt.Printf("--- %s %s failed without a crasher; retrying once\n", t.pkg, t.name)
			err = fuzzOnce(t.pkg, t.name, *d)
		}
		if err != nil {
			fmt.Printf("--- FAIL %s %s: %v\n", t.pkg, t.name, err)
			failed++
			continue
		}
		fmt.Printf("--- ok %s %s\n", t.pkg, t.name)
	}
	fmt.Printf("%d passed, %d failed\n", len(targets)-failed, failed)
	if failed > 0 {
		os.Exit(1)
	}
}
