// Package archtest holds the tests that enforce the module's dependency
// direction, in library code and in its tests:
//
//	mdns ← mdns/transport ← responder, browser ← discovery (root) ← cmd
//	                        dialer (imports nothing of this module) ←┘
//
// mdns is pure (no sockets, clock, logging); responder, browser and dialer
// never import each other; internal helpers rank by what they import (a
// helper on memnet is usable from the transport layer up; the dialer's
// tests use only internal/testkit, which imports nothing of the module);
// only dialer, the root facade and cmd import libp2p's host and network
// packages; only cmd touches flags, os.Exit or the global logger, and no
// library code prints.
package archtest
