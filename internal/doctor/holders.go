package doctor

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
)

// Socket is one UDP socket of /proc/net/udp or /proc/net/udp6.
type Socket struct {
	Addr  netip.Addr
	Port  uint16
	UID   int
	Inode uint64
}

// ParseProcNetUDP returns the sockets of a /proc/net/udp or /proc/net/udp6
// table bound to local port port. Addresses are decoded as the kernel
// prints them on a little-endian machine (32-bit words in host order).
func ParseProcNetUDP(r io.Reader, port uint16) ([]Socket, error) {
	var out []Socket
	sc := bufio.NewScanner(r)
	first := true
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if first {
			first = false
			if len(fields) > 0 && fields[0] == "sl" {
				continue
			}
		}
		if len(fields) < 10 {
			continue
		}
		host, portHex, ok := strings.Cut(fields[1], ":")
		if !ok {
			return nil, fmt.Errorf("bad local address %q", fields[1])
		}
		p, err := strconv.ParseUint(portHex, 16, 16)
		if err != nil {
			return nil, fmt.Errorf("bad port in %q", fields[1])
		}
		if uint16(p) != port {
			continue
		}
		raw, err := hex.DecodeString(host)
		if err != nil || (len(raw) != 4 && len(raw) != 16) {
			return nil, fmt.Errorf("bad address in %q", fields[1])
		}
		for i := 0; i+4 <= len(raw); i += 4 { // each 32-bit word is in host order
			raw[i], raw[i+1], raw[i+2], raw[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
		}
		addr, _ := netip.AddrFromSlice(raw)
		uid, _ := strconv.Atoi(fields[7])
		inode, err := strconv.ParseUint(fields[9], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("bad inode %q", fields[9])
		}
		out = append(out, Socket{Addr: addr, Port: uint16(p), UID: uid, Inode: inode})
	}
	return out, sc.Err()
}

// Holder is a process holding a socket on the mDNS port.
type Holder struct {
	PID  int    `json:"pid"`  // 0 when the owner could not be found
	Name string `json:"name"` // /proc/<pid>/comm
	UID  int    `json:"uid"`
}

func (h Holder) String() string {
	if h.PID == 0 {
		return fmt.Sprintf("a process of uid %d we cannot see (run as root to name it)", h.UID)
	}
	return fmt.Sprintf("%s (pid %d)", h.Name, h.PID)
}

// FindHolders lists the processes, other than skipPID, that hold a UDP
// socket bound to port in the network namespace of the caller: the sockets
// of procRoot/net/udp{,6} are matched by inode against the descriptors of
// procRoot/<pid>/fd. It is only supported on Linux.
func FindHolders(procRoot string, port uint16, skipPID int) ([]Holder, error) {
	if runtime.GOOS != "linux" {
		return nil, errors.New("only supported on Linux")
	}
	inodes := map[uint64]int{} // inode → uid
	read := 0
	for _, name := range []string{"net/udp", "net/udp6"} {
		f, err := os.Open(filepath.Join(procRoot, name))
		if err != nil {
			continue
		}
		socks, err := ParseProcNetUDP(f, port)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		read++
		for _, s := range socks {
			inodes[s.Inode] = s.UID
		}
	}
	if read == 0 {
		return nil, fmt.Errorf("cannot read %s/net/udp", procRoot)
	}
	if len(inodes) == 0 {
		return nil, nil
	}
	owners := map[uint64][]int{}
	ents, err := os.ReadDir(procRoot)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == skipPID {
			continue
		}
		fdDir := filepath.Join(procRoot, e.Name(), "fd")
		fds, err := os.ReadDir(fdDir)
		if err != nil {
			continue // gone, or not ours to read
		}
		for _, fd := range fds {
			link, err := os.Readlink(filepath.Join(fdDir, fd.Name()))
			if err != nil || !strings.HasPrefix(link, "socket:[") {
				continue
			}
			ino, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]"), 10, 64)
			if _, ok := inodes[ino]; err == nil && ok {
				owners[ino] = append(owners[ino], pid)
			}
		}
	}
	seen := map[int]bool{}
	var out []Holder
	for ino, uid := range inodes {
		pids := owners[ino]
		if len(pids) == 0 {
			if skipPID == 0 || !ownSocket(procRoot, skipPID, ino) {
				out = append(out, Holder{UID: uid})
			}
			continue
		}
		for _, pid := range pids {
			if seen[pid] {
				continue
			}
			seen[pid] = true
			comm, _ := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "comm"))
			out = append(out, Holder{PID: pid, Name: strings.TrimSpace(string(comm)), UID: uid})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].PID != out[j].PID {
			return out[i].PID < out[j].PID
		}
		return out[i].UID < out[j].UID
	})
	// One "unknown" entry per uid is enough.
	dedup := out[:0]
	for i, h := range out {
		if h.PID == 0 && i > 0 && out[i-1].PID == 0 && out[i-1].UID == h.UID {
			continue
		}
		dedup = append(dedup, h)
	}
	return dedup, nil
}

// ownSocket reports whether inode is one of pid's sockets.
func ownSocket(procRoot string, pid int, inode uint64) bool {
	fdDir := filepath.Join(procRoot, strconv.Itoa(pid), "fd")
	fds, _ := os.ReadDir(fdDir)
	want := "socket:[" + strconv.FormatUint(inode, 10) + "]"
	for _, fd := range fds {
		if link, _ := os.Readlink(filepath.Join(fdDir, fd.Name())); link == want {
			return true
		}
	}
	return false
}
