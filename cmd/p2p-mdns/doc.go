// Command p2p-mdns is the command-line face of the discovery module: it
// finds libp2p peers on the local network with multicast DNS.
//
//	p2p-mdns run      [flags]   announce a libp2p host, find peers, connect, print events
//	p2p-mdns browse   [flags]   list the libp2p peers of every tag on the LAN without announcing (--once: a table)
//	p2p-mdns announce [flags]   announce a peer ID and multiaddrs without a libp2p host
//	p2p-mdns sniff    [flags]   decode live mDNS traffic (or a capture with --read FILE|-)
//	p2p-mdns replay   FILE|-... replay pcap captures through the browser, printing its events
//	p2p-mdns doctor   [flags]   explain what would stop discovery on this machine
//	p2p-mdns keygen   FILE      write a new libp2p identity to FILE
//	p2p-mdns --version
//
// `p2p-mdns COMMAND -h` prints the purpose, an example and the flags of a
// command on standard output. Every flag value is checked before anything
// starts. Exit codes: 0 ok, 1 failure (doctor: a check failed), 2 bad
// usage or unreadable input.
//
// Human output (the default) is a table with a header; on a terminal peer
// IDs are shortened to their first 4 and last 6 characters and at most two
// addresses are shown per line (--wide shows everything, as does output to
// a pipe or a file). --json prints one JSON object per line instead
// (doctor: one object), in the schemas below.
//
// The service tag (--service, default "_p2p._udp", the one go-libp2p's
// NewMdnsService uses) must be the one the peers announce: a tag T is the
// DNS-SD service "T.local.". The library's NewMDNSDiscovery defaults to
// "CHORUS-peer-discovery" instead. browse without --service lists the
// libp2p peers of every tag on the link (it browses each tag whose
// responses carry libp2p peers, and enumerates the service types, RFC 6763
// §9), with the tag of each; sniff and doctor name the tag of every libp2p
// peer they hear, and doctor says which --service to use when peers are
// heard under another tag only.
//
// # Events
//
// run, browse, announce and replay print peer events. t is in seconds since
// the command started (replay: since the capture's first packet). event is
// self (our peer: its ID and the addresses announced on the LAN, never
// loopback ones), found (a new peer), updated (a changed address set), lost
// (its records all expired or it said goodbye; addrs are the last known),
// connected (run only: a connection to a found peer, whichever side
// dialled; direction is outbound when we did, inbound when the peer did)
// or dial_failed (run only; error is the dial error, reason its class:
// timeout, unreachable, identity, handshake, swarm-backoff, canceled or
// other). flavour is the record layout the peer was seen in: discovery
// (this module), go (go-libp2p), rust, js, dnssd (Avahi, Bonjour,
// python-zeroconf) or unknown (never seen announcing, e.g. connected
// without being found); never empty. addrs is always an array; IPv6
// link-local addresses carry an /ip6zone/<interface> prefix. tag (browse)
// is the service tag the peer was found under. file (replay) names the
// capture. browse --once prints, at the end, one "peer" event per
// peer known and one "ignored" record; replay prints one "file" record
// after each capture; run --stats prints "stats" records.
//
// # JSON schemas
//
// Each line below is one kind of JSON object: its keys in output order,
// with their types. key? is optional (absent when empty), [T] an array of
// T (never null), {T} an object of T values. New keys may be added;
// existing ones keep their names, types and meaning.
//
//	event           event:string id:string addrs:[string] flavour:string t:number file?:string error?:string reason?:string direction?:string tag?:string
//	ignored         event:string t:number service:string non_libp2p:[string] other_services:{number} other_tags:{number}
//	file            event:string file:string t:number frames:number datagrams:number reassembled:number incomplete:number skipped:number peers:number
//	stats           event:string t:number heap_inuse:number heap_sys:number heap_alloc:number goroutines:number peers:[string] connected:[string] dropped:{number} metrics:object
//	sniff           t:number kind:string src:string dst:string iface?:string ip_ttl:number size:number id:number tc?:bool records?:[object] peers?:[object] error?:string
//	sniff.record    section:string name:string type:string ttl:number flush?:bool data?:string
//	sniff.peer      id:string service:string tag:string instance:string flavour:string ttl:number addrs:[string]
//	doctor          verdict:string service:string passive:bool duration:string findings:[object] peers:[object] queries_sent:number responses:number queries_heard:number
//	doctor.finding  check:string status:string message:string hint?:string
//	doctor.peer     id:string flavour:string service:string tag:string addrs:[string] iface:string found:bool can_see_us:string
//	keygen          id:string file:string
//
// event is the "event" key of the event records (self, found, updated,
// lost, connected, dial_failed, and peer from browse --once); ignored, file
// and stats are the records of that "event" value. ignored lists the
// instances of the browsed service without a libp2p peer (non_libp2p, by
// instance label), the instances of other services heard (other_services,
// per service) and the libp2p peers heard under other tags (other_tags,
// per tag). stats.metrics is the library's discovery.DiscoveryMetrics.
// sniff: kind is query, probe, response, goodbye or malformed; src and dst
// are address:port. doctor: verdict is ok, warn (discovery can work, with
// warnings) or fail (exit code 1); a finding's check is interfaces,
// sockets, port 5353, routes, ipv6, queries, firewall or peers, its status
// ok, info, warn or fail.
package main
