package sim

import (
	"errors"
	"fmt"
	"time"

	"github.com/chorus-services/discovery/mdns/transport/memnet"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// Defaults of the Params fields left zero.
const (
	DefaultStartup  = 10 * time.Second
	DefaultSteady   = 5 * time.Minute
	DefaultLatency  = time.Millisecond
	DefaultQueueLen = 1024
	DefaultBin      = 100 * time.Millisecond
	DefaultLogLimit = 8 << 20
	// steadyBin is the width of the steady-window timeline bins.
	steadyBin = 10 * time.Second
	// maxNodes bounds N (memnet gives at most 0xfffe automatic addresses
	// per segment; the per-pair bookkeeping is N²).
	maxNodes = 5000
)

// Family is the address family of every simulated interface.
type Family string

// The families of Params.Family.
const (
	FamilyV4   Family = "v4"   // IPv4 only: one socket, one group
	FamilyDual Family = "dual" // IPv4 and IPv6 link-local: every multicast goes out twice
)

// Params describe one simulation run. The zero value of every field but N
// and Stack has a documented default.
type Params struct {
	// N is the number of nodes (≥ 2).
	N int `json:"n"`
	// Seed seeds the LAN impairments, the identities, the addresses and
	// every node's random source.
	Seed uint64 `json:"seed"`
	// Family is FamilyV4 (default) or FamilyDual.
	Family Family `json:"family"`
	// StartJitter spreads the node start instants uniformly over
	// [0, StartJitter); 0 starts every node at the same virtual instant.
	StartJitter time.Duration `json:"start_jitter_ns"`
	// Startup is the startup window after the first start (default 10 s):
	// convergence is expected in it and its packets are logged one by one.
	Startup time.Duration `json:"startup_ns"`
	// Steady is the steady-state window that follows (default 5 min;
	// negative: none).
	Steady time.Duration `json:"steady_ns"`
	// Latency is the one-way LAN delay (default 1 ms; negative: 0).
	Latency time.Duration `json:"latency_ns"`
	// Jitter adds a uniform [0, Jitter) delay per receiver.
	Jitter time.Duration `json:"jitter_ns"`
	// Loss is the per-receiver packet loss probability in [0, 1).
	Loss float64 `json:"loss"`
	// QueueLen bounds every receive queue of a node (memnet Conn and the
	// stack's own queues; default 1024) so that no packet is dropped for
	// want of simulation CPU: drops are reported in Result.Health.
	QueueLen int `json:"queue_len"`
	// TTLHost and TTLOther override the record TTLs (0: RFC 6762 §10
	// defaults of 120 s and 4500 s).
	TTLHost  uint32 `json:"ttl_host"`
	TTLOther uint32 `json:"ttl_other"`
	// Bin is the width of the startup timeline bins (default 100 ms).
	Bin time.Duration `json:"bin_ns"`
	// LogLimit bounds the per-packet log of the startup window (default
	// 8 Mi entries); packets beyond it are still counted but the
	// convergence-window counts are then marked truncated.
	LogLimit int `json:"log_limit"`
	// Stack starts the protocol stack of one node (required).
	Stack Stack `json:"-"`
	// Logf, when set, reports progress at every window boundary.
	Logf func(format string, args ...any) `json:"-"`
}

// NodeConfig is what a Stack gets for one node.
type NodeConfig struct {
	Index int
	Nodes int // N
	// Conn is the node's mDNS socket on the LAN; the stack owns it.
	Conn     *memnet.Conn
	ID       peer.ID
	Addrs    []ma.Multiaddr
	Seed     uint64
	QueueLen int
	TTLHost  uint32
	TTLOther uint32
	// Found and Lost must be called by the stack whenever its browser
	// reports a peer found or lost, with the event's virtual time. They
	// are safe for concurrent use.
	Found func(id peer.ID, at time.Time)
	Lost  func(id peer.ID, at time.Time)
}

// Node is the running protocol stack of one node.
type Node interface {
	// Stats returns the stack's cumulative counters by name (e.g.
	// "responder.Announcements"); summed over nodes per window in Result.
	Stats() map[string]uint64
	// Close stops the node gracefully (goodbyes included) and waits for
	// every goroutine it started.
	Close() error
}

// Stack starts one node. It is called inside the simulation's synctest
// bubble, at the node's start instant.
type Stack func(cfg NodeConfig) (Node, error)

// withDefaults validates p and fills the defaults.
func (p Params) withDefaults() (Params, error) {
	if p.N < 2 || p.N > maxNodes {
		return p, fmt.Errorf("sim: N = %d not in [2, %d]", p.N, maxNodes)
	}
	if p.Stack == nil {
		return p, errors.New("sim: Params.Stack is required")
	}
	switch p.Family {
	case "":
		p.Family = FamilyV4
	case FamilyV4, FamilyDual:
	default:
		return p, fmt.Errorf("sim: unknown family %q", p.Family)
	}
	if !(p.Loss >= 0 && p.Loss < 1) {
		return p, fmt.Errorf("sim: loss %v not in [0, 1)", p.Loss)
	}
	if p.StartJitter < 0 || p.Jitter < 0 || p.Startup < 0 || p.Bin < 0 || p.QueueLen < 0 || p.LogLimit < 0 {
		return p, errors.New("sim: negative parameter")
	}
	if p.Startup == 0 {
		p.Startup = DefaultStartup
	}
	if p.StartJitter >= p.Startup {
		return p, errors.New("sim: StartJitter must be shorter than Startup")
	}
	switch {
	case p.Steady == 0:
		p.Steady = DefaultSteady
	case p.Steady < 0:
		p.Steady = 0
	}
	switch {
	case p.Latency == 0:
		p.Latency = DefaultLatency
	case p.Latency < 0:
		p.Latency = 0
	}
	if p.QueueLen == 0 {
		p.QueueLen = DefaultQueueLen
	}
	if p.Bin == 0 {
		p.Bin = DefaultBin
	}
	if p.LogLimit == 0 {
		p.LogLimit = DefaultLogLimit
	}
	if p.Logf == nil {
		p.Logf = func(string, ...any) {}
	}
	return p, nil
}
