//go:build linux

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/chorus-services/discovery/internal/benchstat"
	"github.com/chorus-services/discovery/internal/netns"
	"github.com/chorus-services/discovery/internal/syncbuf"
)

const (
	implOurs   = "ours"        // NewMDNSDiscovery, auto-connect, PeersChan
	implDropIn = "ours-dropin" // our drop-in NewMdnsService, a notifee that connects
	implGo     = "go-libp2p"   // go-libp2p's NewMdnsService, the same notifee
	defaultTag = "_p2p._udp"

	readyTimeout = 90 * time.Second       // every node has built its host
	startLead    = time.Second            // the common start is this far after the last node is ready
	markTimeout  = 10 * time.Second       // every node answered a mark
	stopTimeout  = 20 * time.Second       // every node printed its final line after SIGTERM
	stderrKeep   = 16 << 10               // bytes of a node's stderr kept for errors
	joinSnapLead = 250 * time.Millisecond // the join traffic is counted from this long before the joiner starts
)

// runConfig are the parameters of one run.
type runConfig struct {
	benchstat.Params // those the result names
	ConvergeTimeout  time.Duration
	Window           time.Duration
	Steady           time.Duration
	Settle           time.Duration
	// Join > 0: the last node starts Join after the others (the join
	// scenario); 0: every node starts at the common start.
	Join        time.Duration
	DialTimeout time.Duration
	Verbose     bool
	Log         io.Writer // progress lines (stderr)
}

// node is one child process.
type node struct {
	idx    int // 0-based
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *syncbuf.Buffer
	id     string
	final  *nodeMsg
	marks  map[string]usage
}

// msg is a line from node idx; ev "eof" when its stdout ended.
type msg struct {
	idx int
	m   nodeMsg
}

// run is the state of one run.
type run struct {
	cfg   runConfig
	nt    *netns.Net
	self  string
	nodes []*node
	msgs  chan msg
	ids   map[string]int
	eofs  int

	t0     time.Time   // the common start
	offset []float64   // offset[i]: node i's start, seconds after t0
	found  [][]float64 // found[i][j]: when node i first found j (seconds since t0), NaN = never
	conn   [][]float64 // conn[i][j]: when i reported a connection to j

	snaps map[string]snapshot
}

// snapshot is the wire counters at an instant.
type snapshot struct {
	at time.Time
	c  wireCounters
}

func nanMatrix(n int) [][]float64 {
	m := make([][]float64, n)
	for i := range m {
		m[i] = make([]float64, n)
		for j := range m[i] {
			m[i][j] = math.NaN()
		}
	}
	return m
}

func (r *run) logf(format string, args ...any) {
	if r.cfg.Log != nil && r.cfg.Verbose {
		fmt.Fprintf(r.cfg.Log, "  [%s n=%d run %d] %s\n", r.cfg.Impl, r.cfg.N, r.cfg.Run, fmt.Sprintf(format, args...))
	}
}

// benchRun performs one run on a fresh LAN and returns its result.
func benchRun(ctx context.Context, cfg runConfig) (res *Result, err error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	built := time.Now()
	nt, err := netns.Build(cfg.N, netns.WithoutDAD())
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := nt.Close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()
	r := &run{cfg: cfg, nt: nt, self: self, ids: map[string]int{}, found: nanMatrix(cfg.N),
		conn: nanMatrix(cfg.N), snaps: map[string]snapshot{}, msgs: make(chan msg, 4*cfg.N*cfg.N+64), offset: make([]float64, cfg.N)}
	if cfg.Join > 0 {
		r.offset[cfg.N-1] = cfg.Join.Seconds()
	}
	r.logf("LAN of %d hosts built in %v", cfg.N, time.Since(built).Round(time.Millisecond))
	if err := setupBridgeCounters(ctx, nt); err != nil {
		return nil, err
	}
	if cfg.LossPct > 0 {
		if err := setupLoss(ctx, nt, cfg.LossPct); err != nil {
			return nil, err
		}
	}
	defer r.kill()
	if err := r.startNodes(ctx); err != nil {
		return nil, err
	}
	return r.measure(ctx)
}

func (r *run) startNodes(ctx context.Context) error {
	for i := 0; i < r.cfg.N; i++ {
		h := r.nt.Host(i + 1)
		args := []string{"node", "--impl", r.cfg.Impl, "--tag", r.cfg.Tag, "--iface", netns.LinkName,
			"--dial-timeout", r.cfg.DialTimeout.String(),
			"--listen", "/ip4/" + h.V4.Addr().String() + "/tcp/0", "--listen", "/ip6/" + h.V6.Addr().String() + "/tcp/0"}
		if r.cfg.StrictProbes {
			args = append(args, "--strict-probes")
		}
		if r.cfg.NoConnect {
			args = append(args, "--no-connect")
		}
		// Not CommandContext: the nodes are stopped by SIGTERM (stop) or
		// SIGKILL (kill), both bounded.
		cmd := r.nt.Exec(context.Background(), i+1, r.self, args...)
		cmd.WaitDelay = 2 * time.Second
		// Its own process group: a terminal's Ctrl-C reaches only the
		// bench, which stops the nodes in order. Killed if the bench dies.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		nd := &node{idx: i, cmd: cmd, stderr: &syncbuf.Buffer{Max: stderrKeep}, marks: map[string]usage{}}
		cmd.Stderr = nd.stderr
		var err error
		if nd.stdin, err = cmd.StdinPipe(); err != nil {
			return err
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			return err
		}
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("node %d: %w", i+1, err)
		}
		r.nodes = append(r.nodes, nd)
		go r.readNode(i, stdout)
	}
	deadline := time.Now().Add(readyTimeout)
	return r.pump(ctx, deadline, func() bool { return len(r.ids) == r.cfg.N }, "every node ready")
}

func (r *run) readNode(i int, stdout io.Reader) {
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var m nodeMsg
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			m = nodeMsg{Ev: "error", Error: "unparsable output: " + sc.Text()}
		}
		r.msgs <- msg{i, m}
	}
	r.msgs <- msg{i, nodeMsg{Ev: "eof"}}
}

// pump handles node messages until done() holds (nil: until deadline),
// the deadline passes (an error when what is set), or ctx ends.
func (r *run) pump(ctx context.Context, deadline time.Time, done func() bool, what string) error {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for {
		if done != nil && done() {
			return nil
		}
		select {
		case m := <-r.msgs:
			if err := r.handle(ctx, m); err != nil {
				return err
			}
		case <-timer.C:
			if done != nil && !done() && what != "" {
				return fmt.Errorf("timeout waiting for %s", what)
			}
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (r *run) handle(ctx context.Context, mm msg) error {
	nd, m := r.nodes[mm.idx], mm.m
	j, known := r.ids[m.ID]
	m.T += r.offset[mm.idx] // a node counts from its own start
	switch m.Ev {
	case "ready":
		nd.id = m.ID
		r.ids[m.ID] = mm.idx
	case "found", "connected":
		if !known || j == mm.idx {
			return nil // not one of the bench's nodes (cannot happen on this LAN)
		}
		mat := map[string][][]float64{"found": r.found, "connected": r.conn}[m.Ev]
		if math.IsNaN(mat[mm.idx][j]) {
			mat[mm.idx][j] = m.T
		}
		if r.t0.IsZero() {
			return nil
		}
		if _, ok := r.snaps["conv"]; !ok && r.allFound() {
			return r.snap(ctx, "conv")
		}
	case "usage":
		if m.Usage != nil {
			nd.marks[m.Mark] = *m.Usage
		}
	case "final":
		nd.final = &m
	case "error":
		return fmt.Errorf("node %d: %s", mm.idx+1, m.Error)
	case "eof":
		r.eofs++
		if nd.final == nil && !r.stopping() {
			return fmt.Errorf("node %d exited early: %s", mm.idx+1, strings.TrimSpace(nd.stderr.String()))
		}
	}
	return nil
}

func (r *run) stopping() bool { _, ok := r.snaps["stop"]; return ok }

// allFound: every node found every other.
func (r *run) allFound() bool { return r.complete(false) }

// converged: every node found every other, and every pair is connected
// (reported by either side; not with --no-connect).
func (r *run) converged() bool { return r.complete(!r.cfg.NoConnect) }

func (r *run) complete(connected bool) bool {
	for i := 0; i < r.cfg.N; i++ {
		for j := 0; j < r.cfg.N; j++ {
			if i == j {
				continue
			}
			if math.IsNaN(r.found[i][j]) || connected && math.IsNaN(r.conn[i][j]) && math.IsNaN(r.conn[j][i]) {
				return false
			}
		}
	}
	return true
}

// snap reads the wire counters; their instant is the middle of the nft
// command (tens of milliseconds).
func (r *run) snap(ctx context.Context, name string) error {
	before := time.Now()
	c, err := readWire(ctx, r.nt)
	if err != nil {
		return err
	}
	at := before.Add(time.Since(before) / 2)
	r.snaps[name] = snapshot{at: at, c: c}
	if !r.t0.IsZero() {
		r.logf("%-7s at %7.3fs: %d packets", name, at.Sub(r.t0).Seconds(), c.Packets)
	}
	return nil
}

// mark asks every node for its rusage and waits for the answers.
func (r *run) mark(ctx context.Context, name string) error {
	for _, nd := range r.nodes {
		if _, err := io.WriteString(nd.stdin, "mark "+name+"\n"); err != nil {
			return fmt.Errorf("node %d: %w", nd.idx+1, err)
		}
	}
	return r.pump(ctx, time.Now().Add(markTimeout), func() bool {
		for _, nd := range r.nodes {
			if _, ok := nd.marks[name]; !ok {
				return false
			}
		}
		return true
	}, "every node's rusage ("+name+")")
}

// measure runs the timeline: start, convergence, the fixed window, the
// steady window, stop.
func (r *run) measure(ctx context.Context) (*Result, error) {
	drops0, err := readDrops(r.nt)
	if err != nil {
		return nil, err
	}
	if err := r.snap(ctx, "begin"); err != nil {
		return nil, err
	}
	r.t0 = time.Now().Add(startLead)
	for _, nd := range r.nodes {
		at := r.t0.Add(time.Duration(r.offset[nd.idx] * float64(time.Second)))
		if _, err := io.WriteString(nd.stdin, "start "+strconv.FormatInt(at.UnixNano(), 10)+"\n"); err != nil {
			return nil, fmt.Errorf("node %d: %w", nd.idx+1, err)
		}
	}
	// Until convergence or the timeout, taking the timed snapshots (the
	// fixed window's end; the joiner's start) on the way; handle takes the
	// "conv" snapshot as soon as the mesh is found.
	joinAt := r.t0.Add(r.cfg.Join)
	convDeadline := joinAt.Add(r.cfg.ConvergeTimeout)
	timed := map[string]time.Time{"window": r.t0.Add(r.cfg.Window)}
	if r.cfg.Join > 0 {
		// Before the joiner's start: reading the counters takes tens of
		// milliseconds, and go-libp2p's joiner is done in a few.
		timed["join"] = joinAt.Add(-min(joinSnapLead, r.cfg.Join/2))
	}
	for !r.converged() && time.Now().Before(convDeadline) {
		if err := r.pump(ctx, nextOf(timed, convDeadline), r.converged, ""); err != nil {
			return nil, err
		}
		if err := r.snapDue(ctx, timed); err != nil {
			return nil, err
		}
	}
	convergedOK := r.converged()
	if _, ok := r.snaps["conv"]; !ok {
		if err := r.snap(ctx, "conv"); err != nil {
			return nil, err
		}
	}
	for len(timed) > 0 {
		if err := r.pump(ctx, nextOf(timed, time.Now().Add(time.Hour)), nil, ""); err != nil {
			return nil, err
		}
		if err := r.snapDue(ctx, timed); err != nil {
			return nil, err
		}
	}
	// The steady window starts after both, and after --settle.
	if r.cfg.Steady > 0 {
		if err := r.pump(ctx, time.Now().Add(r.cfg.Settle), nil, ""); err != nil {
			return nil, err
		}
		if err := r.snap(ctx, "steady0"); err != nil {
			return nil, err
		}
		if err := r.mark(ctx, "steady0"); err != nil {
			return nil, err
		}
		end := r.snaps["steady0"].at.Add(r.cfg.Steady)
		if err := r.pump(ctx, end, nil, ""); err != nil {
			return nil, err
		}
		if err := r.snap(ctx, "steady1"); err != nil {
			return nil, err
		}
		if err := r.mark(ctx, "steady1"); err != nil {
			return nil, err
		}
	}
	if err := r.snap(ctx, "stop"); err != nil {
		return nil, err
	}
	if err := r.stop(ctx); err != nil {
		return nil, err
	}
	drops1, err := readDrops(r.nt)
	if err != nil {
		return nil, err
	}
	var lost uint64
	if r.cfg.LossPct > 0 {
		if lost, err = readLost(ctx, r.nt); err != nil {
			return nil, err
		}
	}
	return r.result(convergedOK, drops0, drops1, lost), nil
}

// snapDue takes the timed snapshots whose instant has passed.
func (r *run) snapDue(ctx context.Context, timed map[string]time.Time) error {
	for name, at := range timed {
		if time.Now().Before(at) {
			continue
		}
		delete(timed, name)
		if err := r.snap(ctx, name); err != nil {
			return err
		}
	}
	return nil
}

// nextOf is the earliest instant of timed, or limit if that is earlier.
func nextOf(timed map[string]time.Time, limit time.Time) time.Time {
	for _, at := range timed {
		if at.Before(limit) {
			limit = at
		}
	}
	return limit
}

// stop sends SIGTERM to every node and waits for their final lines and
// exits.
func (r *run) stop(ctx context.Context) error {
	for _, nd := range r.nodes {
		_ = nd.cmd.Process.Signal(syscall.SIGTERM)
	}
	err := r.pump(ctx, time.Now().Add(stopTimeout), func() bool { return r.eofs == len(r.nodes) }, "every node to stop")
	for _, nd := range r.nodes {
		if err == nil && nd.final == nil {
			err = fmt.Errorf("node %d stopped without its final line: %s", nd.idx+1, strings.TrimSpace(nd.stderr.String()))
		}
	}
	if err != nil {
		return err
	}
	for _, nd := range r.nodes {
		waited := make(chan error, 1)
		go func() { waited <- nd.cmd.Wait() }()
		select {
		case werr := <-waited:
			if werr != nil {
				return fmt.Errorf("node %d: %w: %s", nd.idx+1, werr, strings.TrimSpace(nd.stderr.String()))
			}
		case <-time.After(5 * time.Second):
			return fmt.Errorf("node %d did not exit after its final line", nd.idx+1)
		}
		nd.cmd = nil
	}
	return nil
}

// kill ends every node still running (error paths and interrupts).
func (r *run) kill() {
	for _, nd := range r.nodes {
		if nd.cmd == nil || nd.cmd.Process == nil {
			continue
		}
		_ = nd.cmd.Process.Signal(syscall.SIGTERM)
	}
	deadline := time.After(3 * time.Second)
	for _, nd := range r.nodes {
		if nd.cmd == nil || nd.cmd.Process == nil {
			continue
		}
		waited := make(chan struct{})
		go func() { _ = nd.cmd.Wait(); close(waited) }()
		select {
		case <-waited:
		case <-deadline:
			_ = nd.cmd.Process.Kill()
			<-waited
		}
	}
	// Let the readers finish: they end with the pipes.
	for r.eofs < len(r.nodes) {
		select {
		case m := <-r.msgs:
			if m.m.Ev == "eof" {
				r.eofs++
			}
		case <-time.After(2 * time.Second):
			return
		}
	}
}
