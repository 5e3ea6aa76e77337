package sim

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/chorus-services/discovery/mdns/transport/memnet"
	"github.com/libp2p/go-libp2p/core/peer"
)

// RunTest runs p in a fresh synctest bubble of t and returns the result;
// a failure to build or start the simulation fails t.
func RunTest(t *testing.T, p Params) *Result {
	t.Helper()
	var res *Result
	synctest.Test(t, func(t *testing.T) {
		var err error
		if res, err = Run(p); err != nil {
			t.Fatal(err)
		}
	})
	return res
}

// nodeState is the discovery bookkeeping of one node: when its browser
// first found each other node, and how often it lost one.
type nodeState struct {
	mu      sync.Mutex
	start   time.Time
	found   []time.Time // by node index; zero: not found (yet)
	nFound  int
	doneAt  time.Time // when nFound reached N-1
	lost    int
	refound int
	node    Node
	err     error
}

// Run runs one simulation. It must be called inside a testing/synctest
// bubble (see RunTest): every duration in the Result is virtual time.
// It returns an error only when the LAN or a node cannot be built or
// started; protocol failures (missed pairs, drops) are in the Result.
func Run(p Params) (*Result, error) {
	p, err := p.withDefaults()
	if err != nil {
		return nil, err
	}
	link := memnet.Link{Latency: p.Latency, Jitter: p.Jitter, Loss: p.Loss}
	lan, err := memnet.New(memnet.Config{
		Seed:     p.Seed,
		QueueLen: p.QueueLen,
		Segments: []memnet.SegmentConfig{{Name: memnet.DefaultSegment, Link: link}},
	})
	if err != nil {
		return nil, err
	}
	defer lan.Close()

	fam := memnet.FamilyV4
	if p.Family == FamilyDual {
		fam = memnet.FamilyDual
	}
	index := make(map[string]int, p.N)
	cfgs := make([]NodeConfig, p.N)
	ids := make(map[peer.ID]int, p.N)
	states := make([]*nodeState, p.N)
	addrRng := rand.New(rand.NewPCG(p.Seed, 0xadd5))
	for i := range p.N {
		name := fmt.Sprintf("n%04d", i)
		h, err := lan.AddHost(name, memnet.IfaceConfig{Family: fam})
		if err != nil {
			return nil, err
		}
		conn, err := h.Listen(memnet.ListenOptions{QueueLen: p.QueueLen})
		if err != nil {
			return nil, err
		}
		id, err := identity(p.Seed, i)
		if err != nil {
			return nil, err
		}
		if _, dup := ids[id]; dup {
			return nil, fmt.Errorf("sim: duplicate peer ID for node %d", i)
		}
		maddrs, err := addrs(addrRng, h.Ifaces()[0].Addr(true))
		if err != nil {
			return nil, err
		}
		index[name] = i
		ids[id] = i
		states[i] = &nodeState{found: make([]time.Time, p.N)}
		cfgs[i] = NodeConfig{
			Index: i, Nodes: p.N, Conn: conn, ID: id, Addrs: maddrs, QueueLen: p.QueueLen,
			Seed: p.Seed ^ uint64(i+1)*0x9e3779b97f4a7c15, TTLHost: p.TTLHost, TTLOther: p.TTLOther,
		}
	}
	for i := range cfgs {
		st, self := states[i], i
		cfgs[i].Found = func(id peer.ID, at time.Time) { st.foundPeer(ids, self, id, at, p.N) }
		cfgs[i].Lost = func(id peer.ID, at time.Time) { st.lostPeer(ids, id) }
	}

	t0 := time.Now()
	col := newCollector(&p, t0, index)
	removeTap := lan.Tap(col.tap)
	defer removeTap()

	// Start every node at its instant (t0 + a seeded uniform jitter).
	jr := rand.New(rand.NewPCG(p.Seed, 0x5747))
	var wg sync.WaitGroup
	for i := range cfgs {
		var d time.Duration
		if p.StartJitter > 0 {
			d = time.Duration(jr.Int64N(int64(p.StartJitter)))
		}
		st, cfg := states[i], cfgs[i]
		wg.Go(func() {
			time.Sleep(d)
			n, err := p.Stack(cfg)
			st.mu.Lock()
			st.start, st.node, st.err = time.Now(), n, err
			st.mu.Unlock()
		})
	}
	wg.Wait()
	var startErr error
	for i, st := range states {
		if st.err != nil {
			startErr = errors.Join(startErr, fmt.Errorf("sim: node %d: %w", i, st.err))
		}
	}
	if startErr != nil {
		closeNodes(states)
		return nil, startErr
	}

	p.Logf("sim: %d nodes started", p.N)
	res := &Result{Params: p}
	// Window boundaries: t0 (every counter starts at zero), the end of the
	// startup and steady windows, and after the nodes closed.
	var stats [nWindows + 1]map[string]uint64
	var lanStats [nWindows + 1]memnet.Stats
	stats[0] = map[string]uint64{}

	time.Sleep(time.Until(t0.Add(p.Startup)))
	synctest.Wait()
	stats[1], lanStats[1] = sumStats(states), lan.Stats()
	res.discovery(states, t0, p.Startup, false)
	p.Logf("sim: startup window done: %d of %d nodes converged", res.Convergence.InStartup, p.N)

	if p.Steady > 0 {
		time.Sleep(p.Steady)
		synctest.Wait()
	}
	stats[2], lanStats[2] = sumStats(states), lan.Stats()
	res.discovery(states, t0, p.Startup+p.Steady, true)
	p.Logf("sim: steady window done; closing the nodes")

	closeNodes(states)
	synctest.Wait()
	stats[3], lanStats[3] = sumStats(states), lan.Stats()

	res.traffic(col, stats, lanStats)
	return res, nil
}

// closeNodes closes every started node in index order.
func closeNodes(states []*nodeState) {
	for _, st := range states {
		if st.node != nil {
			_ = st.node.Close()
		}
	}
}

func sumStats(states []*nodeState) map[string]uint64 {
	out := map[string]uint64{}
	for _, st := range states {
		if st.node == nil {
			continue
		}
		for k, v := range st.node.Stats() {
			out[k] += v
		}
	}
	return out
}

func (st *nodeState) foundPeer(ids map[peer.ID]int, self int, id peer.ID, at time.Time, n int) {
	j, ok := ids[id]
	if !ok || j == self {
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.found[j].IsZero() {
		st.refound++
		return
	}
	st.found[j] = at
	st.nFound++
	if st.nFound == n-1 {
		st.doneAt = at
	}
}

func (st *nodeState) lostPeer(ids map[peer.ID]int, id peer.ID) {
	if _, ok := ids[id]; !ok {
		return
	}
	st.mu.Lock()
	st.lost++
	st.mu.Unlock()
}
