// Package matrix holds only a test: the interop matrix of this project's
// p2p-mdns against the other mDNS implementations libp2p peers use
// (go-libp2p, js-libp2p's @libp2p/mdns, Avahi, python-zeroconf and the
// rust-libp2p wire format), in both directions and over IPv4 and IPv6.
//
// Each cell — (peer, direction, family) — is one subtest with its own
// virtual LAN of network namespaces (internal/netns): nothing touches the
// machine's real interfaces. Our side is the p2p-mdns binary (announce or
// browse) restricted to the cell's family with --ipv4=false / --ipv6=false;
// the time reported is from the start of the side that starts later (the
// finder) to the discovery. The test prints the matrix as a Markdown table
// (t.Log, and to the file named by MATRIX_OUT when set) and fails on any
// cell expected to work that does not.
//
// A cell that does not work for a diagnosed reason in this project (a
// "known bug") does not fail the test, but only when the test observes the
// evidence of that diagnosis during the cell (python-zeroconf: our sniffer
// reports its answers malformed for their NSEC record; rust format: our ID
// is decoded only from a unicast reply to the query port, never from a
// multicast packet). It shows as "✗ known bug [n]" with the diagnosis as a
// footnote; MATRIX_STRICT=1 makes known bugs fail the test as well.
//
//	go test -count=1 -v ./internal/interop/matrix/
package matrix
