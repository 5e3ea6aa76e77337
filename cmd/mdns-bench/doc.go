// Command mdns-bench measures mDNS peer discovery on a LAN of network
// namespaces as its users feel it: this project against go-libp2p's
// p2p/discovery/mdns (v0.51) as the baseline, all built into the same
// binary, each with its default options. Three implementations:
//
//   - ours: discovery.NewMDNSDiscovery (auto-connect); a peer is found
//     when PeersChan first delivers it, as a user reading PeersChan sees
//     it (Peers(), a snapshot of the browser's peers, is not polled);
//   - ours-dropin: the drop-in discovery.NewMdnsService with a notifee
//     that calls host.Connect, as go-libp2p users switching have it; found
//     at the first HandlePeerFound. It calls the notifee from one
//     goroutine, in order, so a slow Connect delays the next peer's
//     HandlePeerFound; go-libp2p calls it in a new goroutine each time;
//   - go-libp2p: its NewMdnsService with the same notifee.
//
// It needs Linux, root, iproute2 and nftables. All traffic stays inside
// namespaces the command creates (internal/netns: a bridge namespace with
// br0 and N host namespaces, each with lan0 at 198.51.100.(10+i)/24 and
// 2001:db8:53::(10+i)/64, IPv6 DAD off) and deletes at the end, on error and
// on SIGINT/SIGTERM; namespaces of a crashed run are swept by the next one
// (and by the namespace tests).
//
// Usage:
//
//	mdns-bench -n 10 --impl both --runs 3 --steady 5m --json results.jsonl
//	mdns-bench -n 30 --impl ours --strict-probes --loss 5
//	mdns-bench -n 10 --impl all --runs 3 --join 10s --steady 0   # one node joins 9 settled ones
//
// Flags:
//
//	-n N                 nodes, 2…50 (default 10)
//	--impl I             ours | ours-dropin | go-libp2p, a comma list of them,
//	                     both (ours,go-libp2p; the default) or all (the
//	                     three); runs alternate in that order, and the
//	                     summary adds each one's ratio to go-libp2p
//	--runs R             runs per implementation (default 1)
//	--loss P             drop P % of the UDP datagrams to port 5353 arriving
//	                     at each host, at random (nftables numgen on the
//	                     input hook of every host namespace)
//	--strict-probes      ours: discovery.WithProbeHints(false) (peers found
//	                     only from announcements, not from their probes)
//	--no-connect         discovery only: no connections (ours:
//	                     WithAutoConnect(false); go-libp2p: a notifee that
//	                     does not call Connect); convergence = mesh found
//	--converge-timeout D stop waiting for the full mesh after D (default 30s)
//	--window D           the fixed first window (default 10s)
//	--settle D           extra wait before the steady window (default 0)
//	--join D             the join scenario: the last node starts D after
//	                     the others (their settle time: long enough for
//	                     their start-up traffic to be over, e.g. 10s;
//	                     default 0: every node starts together; -n ≥ 3)
//	--steady D           the steady window (default 1m; 0: none)
//	--dial-timeout D     one connection attempt (default 10s)
//	--tag T              service tag of both (default _p2p._udp)
//	--json FILE          one JSON object per run and line: every metric
//	                     below (per node where it applies) and the parameters
//	--quiet              no progress lines on stderr
//
// # How a run goes
//
// Each run builds a fresh LAN, installs the counters, and starts one node
// per host namespace: the binary re-executes itself as the hidden "node"
// subcommand via ip netns exec. A node builds a libp2p host (TCP on its
// lan0 addresses), says it is ready and waits for a common start instant
// (the wall clock, shared by all namespaces, one second after the last
// node is ready; with --join, the last node's instant is --join later),
// then starts mDNS with the implementation's default options: ours with
// WithInterfaces("lan0") only (and what --strict-probes or --no-connect
// ask for); the two NewMdnsService with a notifee that calls
// host.Connect (--dial-timeout) for every peer it is handed, as typical
// users do. Nodes report on stdout when the public API first handed them
// each peer (above) and when their host first got a connection to it
// (network notifications, so inbound connections count too), in seconds
// since their own start; the harness adds the start offsets. SIGTERM
// stops a node: it takes its final rusage and VmHWM, then closes mDNS
// (ours sends goodbyes) and the host.
//
// The timeline: start; (--join: the joiner's start); convergence (every
// node found every other, and every pair connected) or --converge-timeout
// after the last start; the end of the first window (start + --window);
// --settle; the steady window; SIGTERM.
//
// # Metrics (per run)
//
// Times are milliseconds from the common start. The summary gives the
// median over runs of every metric.
//
//   - find-all: when each node had found all others; median, p99
//     (nearest rank: the max below 100 nodes) and max over the nodes.
//     mesh_found_ms is the max.
//   - conn-all: when every pair of a node was connected, a pair counting
//     as connected when either side reported a connection to the other;
//     mesh_connected_ms is the max over the nodes: every pair connected.
//   - pair-conn: per unordered pair, when either side first reported a
//     connection, from the later of the two starts; median and max over
//     the pairs (pair_connect_ms in the JSON, row-major over i < j).
//   - join (--join; times from the joiner's start): when the joiner had
//     found all others (it found all) and every pair with it was
//     connected (it connected all); when each settled node first found it
//     (others found it: median, max = all others found it); whether the
//     others had settled (found and connected each other) before it
//     started; packets per node from 250 ms before its start until every
//     node had found every other. find-all and conn-all stay counted from
//     the common start.
//   - missed: ordered pairs (i, j) where i never found j within the run;
//     unconn: pairs never connected.
//   - packets: UDP packets to or from port 5353 SENT by the hosts,
//     counted once per packet by nftables counters on the prerouting hook
//     of the bridge (ingress of the bridge ports), not the N-1 copies the
//     bridge forwards; bytes are IP packet lengths (no Ethernet header).
//     The counters are exact (tcpdump drops packets under load). Windows:
//     conv = start → the full mesh found (or the timeout), as packets per
//     node; win = the first --window, and steady = the steady window, as
//     packets (and bytes) per node per minute. Rates use the measured
//     instants of the counter reads; under a storm the conv read can lag
//     the mesh (compare conv.seconds with mesh_found_ms in the JSON). The
//     JSON also splits IPv4 and IPv6 and counts unicast replies from port
//     5353.
//   - rcvbuf drops: kernel UDP receive-buffer drops, the sum over the host
//     namespaces of Udp RcvbufErrors (/proc/net/snmp) and Udp6RcvbufErrors
//     (/proc/net/snmp6), read inside each namespace, delta over the run
//     (including the goodbyes at the end).
//   - cpu: user+sys seconds of each node process (getrusage) from the
//     common start to SIGTERM (the host's construction is excluded), mean
//     over nodes; steady cpu: the same over the steady window, per minute.
//   - rss: peak resident set size of each node (VmHWM), median and max.
//   - JSON only: HandlePeerFound calls, failed dials, dropped events and
//     PeersChan deliveries (ours), datagrams dropped by --loss, per-node
//     values.
//
// Note on windows: go-libp2p's browser (zeroconf) queries at 0, 4 s,
// ~16 s, ~46 s and then every 60 s, and every node answers every query on
// both families; its traffic per minute reaches its steady level only
// about a minute after the start. A steady window that starts at 10 s
// sees several times the long-run rate; use --settle 1m (or a long
// --steady) for long-run numbers.
//
// Exit codes: 0 all runs completed, 1 a run failed or the machine cannot
// build namespaces, 2 usage, 130 interrupted.
package main
