// Package responder is an RFC 6762 / RFC 6763 conformant mDNS responder
// that makes one libp2p peer (peer ID and multiaddrs, as plain data) known on
// every interface of a transport.Conn, behaving on the wire as Avahi and
// mDNSResponder do.
//
// Packet flow:
//
//	Conn.ReadPacket ─> reader goroutine: IP TTL ≠ 255 dropped (§11), size
//	   check, mdns.Filter (service label, peer name, meta-query) without
//	   allocation ─> bounded channel (overflow counted) ─┐
//	Events / InterfacesChanged (iface up/down/addr) ─────┤
//	SetAddrs ─────────────────────────────────────────────┤
//	                                                      v
//	Run goroutine (the only owner of all state, one timer):
//	   on-link check (§11) ─> mdns.ParseInto ─> mdns.Classify
//	     query    ─> known-answer lists held 400–500 ms when TC (§7.2)
//	              ─> answer kinds per question, KAS (§7.1),
//	                 QU / legacy unicast (§5.4, §6.7) sent at once,
//	                 unique-only multicast at once, shared multicast
//	                 delayed 20–120 ms and aggregated per interface (§6)
//	     probe    ─> simultaneous-probe tie-break (§8.2) or defence
//	     response ─> conflict (§9: rename, back off after 15 in 10 s)
//	                 and duplicate-answer suppression (§7.4)
//	   timer ─> probes (§8.1), announcements (§8.3), due answers; the 1 s
//	            per-record multicast rate limit (§6) is applied at send
//	   ─> mdns.PackResponse (self-contained packets ≤ Interface.MaxPayload)
//	   ─> Conn.WritePacket on the interface and family the query came on
//
// Every interface has its own state: probing, announcing or announced; its
// own A/AAAA records; and a TXT record holding only the multiaddrs reachable
// there (§6.2, §15). Nothing is answered on an interface until probing
// there has ended. Close (or the end of Run's context) sends goodbyes
// (§10.1) and closes the Conn: the Responder is the Conn's only reader.
//
// Conformance notes (choices where the RFC leaves room, and limits):
//   - Answer records multicast on the interface less than 1 s ago are left
//     out, not deferred (§6: the querier has just seen them); records sent as
//     additionals count as multicast but are not themselves rate limited.
//   - A conflict after announcing renames at once (§9) instead of first
//     re-probing the old name; the loser of a simultaneous probe waits 1 s
//     and probes the same name again (§8.2). After 15 conflicts in 10 s
//     every probe attempt waits 5 s until a name is won (§8.1).
//   - Every packet with an IP TTL other than 255 is dropped, legacy unicast
//     queries included (a tool such as dig multicasts with TTL 1).
//   - The DNS-SD meta PTR is kept at goodbye time (other peers of the
//     service still announce it).
//   - Negative answers (§6.1): asked on an interface for a type our host
//     name (<name>.local.) or instance name lacks there, we answer with
//     that name's NSEC in the restricted form (next name itself, one
//     bitmap block of the types that exist there, cache-flush bit), like
//     any unique answer: at once, rate limited, known-answer suppressed,
//     QU and legacy unicast alike; never before probing ended. The host
//     NSEC is per interface (A only where it has only IPv4); it goes in
//     the additional section of every answer carrying address records
//     where one family is missing (§6.2). Its TTL is that of the records
//     it stands in for: 120 s (TTLHost) for both names. Names we do not
//     own exclusively (the service, the meta-query) get none. Probes and
//     announcements carry none (they assert records, §8.1, §8.3), except
//     that once our host NSEC was multicast on an interface, its
//     announcements carry the current one, so that a family gained
//     replaces the NSEC that denied it in caches (§10.2). No goodbye is
//     sent for an NSEC: §10.1 asks for goodbyes of data that becomes
//     invalid, and what an NSEC denies stays absent when we leave, while
//     the records it lists get goodbyes of their own (mDNSResponder, which
//     builds NSECs per answer, sends none either). The next domain name is
//     uncompressed, as miekg/dns packs it (§18.14 allows compression
//     there, RFC 4034 §4.1.1 forbids it in unicast DNS).
//   - Multicast answers are packed once per interface, family and record
//     kinds, and reused until the records change.
//
// Record placement: a PTR answer carries SRV, TXT and A/AAAA in the
// additional section (rust-libp2p reads TXT only there; go-libp2p's
// zeroconf needs SRV and A/AAAA in the same packet); announcements carry
// every record in the answer section (§8.3). Multicast responses have ID 0
// and no questions (§18.1).
package responder
