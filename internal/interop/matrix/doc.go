// Package matrix holds only a test: the interop matrix of this project's
// p2p-mdns against the real mDNS implementations libp2p peers use —
// go-libp2p (p2p/discovery/mdns), rust-libp2p (libp2p-mdns), js-libp2p
// (@libp2p/mdns) and py-libp2p (its python-zeroconf discovery), each run
// as its own program (internal/interop) — and against Avahi and
// python-zeroconf, in both directions and over IPv4 and IPv6.
//
// Each cell — (peer, direction, family) — is one subtest with its own
// virtual LAN of network namespaces (internal/netns): nothing touches the
// machine's real interfaces. For the libp2p flavours a cell proves a
// connection, not only discovery: "they find us" passes only when their
// node, dialling what it discovers as its users do, connects to our
// `p2p-mdns run --no-connect` (which never dials and listens only on the
// cell's family) with the addresses it decoded from our records; "we find
// them" only when our `p2p-mdns run` connects to their node (started with
// its no-dial flag) with the addresses we decoded. Avahi and
// python-zeroconf are not libp2p: their cells are discovery only, our side
// being `p2p-mdns announce` or `browse`. Our side is restricted to the
// cell's family with --ipv4=false / --ipv6=false. The times are from the
// start of the side that starts later (the finder), process start-up
// included, to the discovery and to the connection.
//
// The test prints the matrix as a Markdown table (t.Log, and to the file
// named by MATRIX_OUT when set) and fails on any cell expected to work
// that does not. A cell that does not work for a diagnosed reason in this
// project (a "known bug") does not fail the test, but only when the test
// observes the evidence of that diagnosis during the cell (python-zeroconf:
// our sniffer reports its answers malformed for their NSEC record). It
// shows as "✗ known bug [n]" with the diagnosis as a footnote;
// MATRIX_STRICT=1 (as in .ci/run) makes known bugs fail the test as well.
//
//	go test -count=1 -v ./internal/interop/matrix/
package matrix
