// Package mdns is the protocol vocabulary of libp2p peer discovery over
// multicast DNS (RFC 6762) and DNS-SD (RFC 6763), built on the
// github.com/miekg/dns codec. It has no sockets, no clock and no logging:
// every function is a pure transformation, so it can be fuzzed, replayed
// from captures and benchmarked in isolation.
//
// Outgoing packet flow (responder side):
//
//	ServiceName(tag) ─┐
//	NewPeerName()  ───┼─> Peer ─> NewRecordSet ─> RecordSet{PTR, SRV, TXT, Meta}
//	peer ID, addrs ───┘                              │  + HostRecords(iface IPs)
//	                                                 v
//	                         Response{Answers, Additional, TXT} ─> PackResponse
//	                         ─> [][]byte, each ≤ MaxPayload(MTU), self-contained
//
// Incoming packet flow (browser and responder side):
//
//	datagram ─> Filter.Match (no allocation; drops what cannot concern us)
//	         ─> Parse (bounded, never panics, ErrMalformed)
//	         ─> Classify: query | probe | response | goodbye
//	         ─> Decoder.Decode: []Candidate{ID, Addrs, TTL, Flavour, ...}
//
// The record layout is chosen so that every libp2p mDNS implementation in
// use reads it (see RecordSet), and the decoder reads all of theirs:
// go-libp2p (one TXT with many dnsaddr strings), rust-libp2p (PTR to a single
// random label, one TXT per address in the additional section, responses
// from an ephemeral port), js-libp2p (TXT records in the answer section, no
// SRV) and DNS-SD responders such as Avahi, Bonjour and python-zeroconf
// announcing the service with dnsaddr TXT strings.
//
// # rust-libp2p wire format
//
// For reference (it is not written down elsewhere): a rust-libp2p node
// (libp2p-mdns 0.49) sends 33-byte PTR queries for "_p2p._udp.local" from an
// ephemeral port, and answers every such query by multicast with flags
// 0x8400, the query's ID, no questions, one PTR "_p2p._udp.local." →
// "<32–63 random alphanumerics>." (a single label, new for every response)
// in the answer section, and one TXT record (class IN with the cache-flush
// bit, TTL 360 s) per listen address, owned by that label, holding one string
// "dnsaddr=<addr>/p2p/<id>", in the additional section, 29 TXT records per
// packet at most. It sends no SRV, A, AAAA, announcements or goodbyes.
package mdns
