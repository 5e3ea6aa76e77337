//go:build linux

package netns

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

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
			if _, serr := os.Stat("/run/netns/" + name); errors.Is(serr, os.ErrNotExist) {
				continue // another sweeper (a concurrent test or bench) was first
			}
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

// processAlive: pid exists and is not a zombie (a killed harness process
// stays one until its parent reaps it).
func processAlive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return !errors.Is(err, os.ErrNotExist)
	}
	// pid (comm) state …: comm may hold anything, the state follows the
	// last parenthesis.
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
		return false
	}
	return true
}
