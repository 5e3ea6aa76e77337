package benchstat

// The results of cmd/mdns-bench (one JSON object per run), which
// internal/tools/benchreport reads back.

// Params are the parameters of a run that its result names.
type Params struct {
	Impl         string  `json:"impl"`
	N            int     `json:"n"`
	Run          int     `json:"run"` // 1-based, per implementation
	LossPct      float64 `json:"loss_pct"`
	StrictProbes bool    `json:"strict_probes"`
	NoConnect    bool    `json:"no_connect"`
	Tag          string  `json:"tag"`
}

// Run is one cmd/mdns-bench run's parameters and metrics, one JSON object
// per run. Times are milliseconds since the common start; a null time
// never happened within the run.
type Run struct {
	Params
	ConvergeTimeoutS float64 `json:"converge_timeout_s"`
	WindowS          float64 `json:"window_s"`
	SteadyS          float64 `json:"steady_s"`
	SettleS          float64 `json:"settle_s"`
	DialTimeoutS     float64 `json:"dial_timeout_s"`
	Start            string  `json:"start"` // RFC 3339, the common start

	// Converged: every node found every other and every pair connected
	// within the convergence timeout.
	Converged bool `json:"converged"`
	// FindAllMS[i]: when node i had found every other node.
	FindAllMS []*float64 `json:"find_all_ms"`
	FindAll   Summary    `json:"find_all"`
	// ConnectAllMS[i]: when every pair of node i was connected (reported
	// by either side).
	ConnectAllMS []*float64 `json:"connect_all_ms"`
	ConnectAll   Summary    `json:"connect_all"`
	// MeshFoundMS / MeshConnectedMS: the last node's FindAll /
	// ConnectAll, null if some never completed.
	MeshFoundMS     *float64 `json:"mesh_found_ms"`
	MeshConnectedMS *float64 `json:"mesh_connected_ms"`
	// PairConnectMS: per unordered pair (i < j, row-major), when either
	// side first reported a connection, from the later of the two starts;
	// null: never. PairConnect summarises it (median, max over pairs).
	PairConnectMS []*float64 `json:"pair_connect_ms"`
	PairConnect   Summary    `json:"pair_connect"`
	// Join: the join scenario (--join), from the joiner's start.
	Join *Join `json:"join,omitempty"`
	// MissedPairs: ordered pairs (i, j) where i never found j within the
	// run; UnconnectedPairs: unordered pairs never connected.
	MissedPairs      int `json:"missed_pairs"`
	UnconnectedPairs int `json:"unconnected_pairs"`

	// Packets sent (counted once, on ingress of the bridge ports).
	// Conv: start → convergence (or the timeout); Window: the first
	// window_s seconds; Steady: steady_s seconds after both.
	Conv   Window  `json:"conv"`
	Window Window  `json:"window"`
	Steady *Window `json:"steady,omitempty"`

	// Kernel UDP receive-buffer drops summed over the host namespaces
	// (Udp RcvbufErrors + Udp6RcvbufErrors), delta over the run.
	RcvbufDrops   uint64 `json:"rcvbuf_drops"`
	RcvbufDropsV4 uint64 `json:"rcvbuf_drops_v4"`
	RcvbufDropsV6 uint64 `json:"rcvbuf_drops_v6"`
	// InjectedLoss: datagrams dropped by --loss.
	InjectedLoss uint64 `json:"injected_loss"`

	// CPU seconds (user+sys) of each node from the common start to SIGTERM,
	// and per minute of the steady window.
	CPUS            []float64 `json:"cpu_s"`
	CPU             Summary   `json:"cpu"`
	RunS            float64   `json:"run_s"` // common start → SIGTERM
	SteadyCPUPerMin []float64 `json:"steady_cpu_s_per_min,omitempty"`
	SteadyCPU       *Summary  `json:"steady_cpu_per_min,omitempty"`
	RSSMiB          []float64 `json:"peak_rss_mib"` // VmHWM
	RSS             Summary   `json:"peak_rss"`
	FoundCalls      int64     `json:"found_calls"` // HandlePeerFound calls (go-libp2p, ours-dropin), all nodes
	DialFailed      int64     `json:"dial_failed"`
	EventsDropped   uint64    `json:"events_dropped"`
	ChanDropped     uint64    `json:"peers_chan_dropped"` // ours: PeersChan deliveries dropped
	PacketsNote     string    `json:"packets_note"`
}

// Join is the join scenario: N-1 nodes start together and settle,
// then the last node (the joiner) starts. Times are milliseconds after the
// joiner's start, null if it never happened within the run.
type Join struct {
	SettleS float64 `json:"settle_s"`
	// Settled: before the joiner started, the others had all found each
	// other and (unless no_connect) every pair of them was connected;
	// SettledMS is when (ms after the common start), null if never.
	Settled   bool     `json:"settled"`
	SettledMS *float64 `json:"settled_ms"`
	// FoundAllMS: the joiner had found every other node; ConnectedAllMS:
	// every pair of the joiner was connected (reported by either side).
	FoundAllMS     *float64 `json:"found_all_ms"`
	ConnectedAllMS *float64 `json:"connected_all_ms"`
	// FoundByMS[i]: when settled node i first found the joiner; FoundBy
	// summarises it, FoundByAllMS is the last (null if one never did).
	FoundByMS    []*float64 `json:"found_by_ms"`
	FoundBy      Summary    `json:"found_by"`
	FoundByAllMS *float64   `json:"found_by_all_ms"`
	// Traffic: from 250 ms before the joiner's start (the settled LAN is
	// quiet then) until every node found every other.
	Traffic Window `json:"traffic"`
}

// Window is the wire traffic of one window.
type Window struct {
	Seconds              float64 `json:"seconds"`
	Wire                         // totals over the LAN
	PacketsPerNode       float64 `json:"packets_per_node"`
	PacketsPerNodePerMin float64 `json:"packets_per_node_per_min"`
	BytesPerNodePerMin   float64 `json:"bytes_per_node_per_min"`
}

// Wire counts the mDNS packets on the LAN, counted once per packet on
// ingress of the bridge ports (so: packets sent by the hosts, not the N-1
// copies the bridge forwards). Bytes are IP packet lengths (the bridge
// counts from the network header, without the Ethernet header).
type Wire struct {
	Packets   uint64 `json:"packets"`
	Bytes     uint64 `json:"bytes"`
	V4Packets uint64 `json:"v4_packets"`
	V6Packets uint64 `json:"v6_packets"`
	// Replies from port 5353 to another port (unicast answers to a
	// querier's ephemeral port, RFC 6762 §6.7); included in Packets.
	ReplyPackets uint64 `json:"reply_packets"`
	// Non-first IP fragments (no UDP header to match): their bytes are in
	// Bytes, they are not counted as packets.
	Fragments uint64 `json:"fragments"`
}

// Sub returns the counts of c since d.
func (c Wire) Sub(d Wire) Wire {
	return Wire{c.Packets - d.Packets, c.Bytes - d.Bytes, c.V4Packets - d.V4Packets, c.V6Packets - d.V6Packets,
		c.ReplyPackets - d.ReplyPackets, c.Fragments - d.Fragments}
}
