// Package archtest holds the test that enforces the module's dependency
// direction:
//
//	mdns ← mdns/transport ← responder, browser ← dialer ← discovery (root) ← cmd
//
// mdns is pure (no sockets, clock, logging); responder and browser never
// import each other; only dialer, the root facade and cmd import libp2p's
// host and network packages; only cmd touches flags, os.Exit or the global
// logger, and no library code prints.
package archtest
