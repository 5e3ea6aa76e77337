package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/chorus-services/discovery/mdns/transport"
	"github.com/chorus-services/discovery/responder"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

func runAnnounce(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := commonFlags("announce", stdout)
	keyFile := fs.String("peer-key", "", "libp2p private key file to take the peer ID from (protobuf), created with a new ed25519 key if missing")
	random := fs.Bool("random", false, "announce a random ed25519 peer ID")
	var addrFlags stringList
	fs.Var(&addrFlags, "addr", "multiaddr to announce (repeatable, at least one); a /p2p/<id> suffix gives the peer ID without a key")
	name := fs.String("name", "", "instance label (default: a random one, as go-libp2p picks)")
	ttlHost := fs.Duration("ttl-host", 120*time.Second, "TTL of the SRV, A and AAAA records (RFC 6762 §10)")
	ttlOther := fs.Duration("ttl-other", 4500*time.Second, "TTL of the PTR and TXT records (RFC 6762 §10)")
	service, err := c.parse(fs, args)
	if err != nil {
		return err
	}
	switch {
	case *keyFile != "" && *random:
		return usageError{errors.New("give either --peer-key FILE or --random, not both")}
	case len(addrFlags) == 0:
		return usageError{errors.New("give at least one --addr MULTIADDR")}
	case *ttlHost < time.Second || *ttlOther < time.Second:
		return usageError{errors.New("--ttl-host and --ttl-other must be at least 1s")}
	}
	addrs, named, err := parseAnnounceAddrs(addrFlags)
	if err != nil {
		return err
	}
	id, err := announceID(*keyFile, *random, named, stderr)
	if err != nil {
		return err
	}
	log := c.logger(stderr)
	conn, err := c.listen(log)
	if err != nil {
		return err
	}
	defer conn.Close() // after the goodbyes: the Conn follows the interfaces itself
	sent := warnUnsent(stderr, addrs, conn.Interfaces())
	r, err := responder.New(responder.Config{Conn: conn, Service: service, PeerID: id, Addrs: addrs, PeerName: *name, Logger: log,
		TTLHost: uint32(*ttlHost / time.Second), TTLOther: uint32(*ttlOther / time.Second)})
	if err != nil {
		return err
	}
	defer r.Close() // goodbyes (RFC 6762 §10.1); Run has sent them already when it returned
	out := newEventWriter(stdout, c.jsonOut, c.short(stdout))
	if err := out.emit(newEvent(evSelf, id, sent, flavourOurs, 0)); err != nil {
		r.Close()
		return err
	}
	log.Info("announcing", "service", service, "peer", id, "instance", r.PeerName(), "addrs", len(addrs))

	ctx, cancel := c.withDuration(ctx)
	defer cancel()
	if err := r.Run(ctx); err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

// announceID is the peer ID to announce: the key file's (created if
// missing), a random one, or the one the --addr flags name.
func announceID(keyFile string, random bool, named peer.ID, stderr io.Writer) (peer.ID, error) {
	var key crypto.PrivKey
	switch {
	case keyFile != "":
		k, created, err := loadKey(keyFile, true)
		if err != nil {
			return "", err
		}
		if created {
			id, _ := peer.IDFromPrivateKey(k)
			notice(stderr, "created a new identity", "peer", id, "file", keyFile)
		}
		key = k
	case random:
		k, _, err := crypto.GenerateEd25519Key(rand.Reader)
		if err != nil {
			return "", err
		}
		key = k
	case named != "":
		return named, nil
	default:
		return "", usageError{errors.New("give --peer-key FILE, --random, or an --addr ending in /p2p/<id>")}
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return "", usageError{fmt.Errorf("--peer-key %s: %v", keyFile, err)}
	}
	if named != "" && named != id {
		return "", usageError{fmt.Errorf("--addr names %s, not our peer %s", named, id)}
	}
	return id, nil
}

// parseAnnounceAddrs parses the --addr flags and returns their transport
// parts and the peer ID their /p2p/<id> suffixes name (all the same one).
func parseAnnounceAddrs(flags []string) ([]ma.Multiaddr, peer.ID, error) {
	var addrs []ma.Multiaddr
	var named peer.ID
	for _, s := range flags {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return nil, "", usageError{fmt.Errorf("--addr %q: %v", s, err)}
		}
		tr, id := peer.SplitAddr(a)
		switch {
		case id != "" && named != "" && id != named:
			return nil, "", usageError{fmt.Errorf("--addr %q names another peer than %s", s, named)}
		case tr == nil:
			return nil, "", usageError{fmt.Errorf("--addr %q has no transport part", s)}
		}
		if id != "" {
			named = id
		}
		addrs = append(addrs, tr)
	}
	return addrs, named, nil
}

// warnUnsent warns, on stderr, about every address that no interface will
// carry, and why (the responder sends each interface only the addresses
// reachable from its link); it returns the others.
func warnUnsent(stderr io.Writer, addrs []ma.Multiaddr, ifs []transport.Interface) (sent []ma.Multiaddr) {
	log := slog.New(slog.NewTextHandler(stderr, nil))
	for _, a := range addrs {
		if why := unsent(a, ifs); why != "" {
			log.Warn("address not announced", "addr", a.String(), "why", why)
			continue
		}
		sent = append(sent, a)
	}
	return sent
}

// unsent says why no interface of ifs will carry a ("" when one will). It
// follows the responder's rule: an address on the interface's subnet, or
// public; loopback only on loopback interfaces; an IPv6 link-local one only
// on the interface that has it; never unspecified or multicast.
func unsent(a ma.Multiaddr, ifs []transport.Interface) string {
	ip, ok := multiaddrIP(a)
	switch {
	case !ok:
		return "" // no IP (dns4, …): sent everywhere
	case ip.IsUnspecified():
		return "unspecified address: give the address of an interface"
	case ip.IsMulticast():
		return "multicast address"
	}
	var names []string
	for _, ifc := range ifs {
		names = append(names, ifc.Name)
		switch {
		case ip.IsLoopback():
			if ifc.Loopback {
				return ""
			}
		case ip.Is6() && ip.IsLinkLocalUnicast():
			for _, p := range ifc.Prefixes {
				if p.Addr().WithZone("") == ip {
					return ""
				}
			}
		case ifc.OnLink(ip):
			return ""
		case !ip.IsLinkLocalUnicast() && !ip.IsPrivate() && ip.IsGlobalUnicast():
			return ""
		}
	}
	where := "the interfaces used (" + strings.Join(names, ", ") + ")"
	switch {
	case ip.IsLoopback():
		return "loopback address: only sent on a loopback interface (--loopback or --iface lo)"
	case ip.Is6() && ip.IsLinkLocalUnicast():
		return "IPv6 link-local address of none of " + where
	}
	return "private address on the subnet of none of " + where + ": peers there could not reach it"
}

func multiaddrIP(a ma.Multiaddr) (netip.Addr, bool) {
	ip, err := manet.ToIP(a)
	if err != nil {
		return netip.Addr{}, false
	}
	addr, ok := netip.AddrFromSlice(ip)
	return addr.Unmap(), ok
}
