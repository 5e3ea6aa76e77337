//go:build !linux

package main

import (
	"fmt"
	"os"
)

// The bench builds Linux network namespaces; elsewhere it only says so.
func main() {
	fmt.Fprintln(os.Stderr, "mdns-bench: needs Linux (network namespaces, nftables)")
	os.Exit(1)
}
