package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/chorus-services/discovery/responder"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

func runAnnounce(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fset := flag.NewFlagSet("announce", flag.ContinueOnError)
	fset.SetOutput(stderr)
	var c common
	c.register(fset)
	keyFile := fset.String("peer-key", "", "libp2p private key file to take the peer ID from (protobuf, as crypto.MarshalPrivateKey writes it)")
	random := fset.Bool("random", false, "announce a random ed25519 peer ID")
	var addrFlags stringList
	fset.Var(&addrFlags, "addr", "multiaddr to announce (repeatable, at least one)")
	name := fset.String("name", "", "instance label (default: a random one, as go-libp2p picks)")
	if err := parseFlags(fset, args); err != nil {
		return err
	}
	log, err := c.logger(stderr)
	if err != nil {
		return err
	}
	service, err := c.check()
	if err != nil {
		return err
	}
	switch {
	case *keyFile != "" && *random:
		return usageError{errors.New("give either --peer-key FILE or --random, not both")}
	case *keyFile == "" && !*random:
		return usageError{errors.New("give --peer-key FILE or --random")}
	case len(addrFlags) == 0:
		return usageError{errors.New("give at least one --addr MULTIADDR")}
	}
	key, err := announceKey(*keyFile)
	if err != nil {
		return err
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return usageError{fmt.Errorf("--peer-key %s: %v", *keyFile, err)}
	}
	addrs, err := announceAddrs(addrFlags, id)
	if err != nil {
		return err
	}

	conn, err := c.listen(log)
	if err != nil {
		return err
	}
	defer conn.Close() // after the goodbyes: the Conn follows the interfaces itself
	r, err := responder.New(responder.Config{Conn: conn, Service: service, PeerID: id, Addrs: addrs, PeerName: *name, Logger: log})
	if err != nil {
		return err
	}
	defer r.Close() // goodbyes (RFC 6762 §10.1); Run has sent them already when it returned
	out := newEventWriter(stdout, c.jsonOut)
	if err := out.emit(evSelf, id, addrs, "", 0); err != nil {
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

// announceKey loads the private key of --peer-key, or makes a random
// ed25519 one when file is "".
func announceKey(file string) (crypto.PrivKey, error) {
	if file == "" {
		k, _, err := crypto.GenerateEd25519Key(rand.Reader)
		return k, err
	}
	b, err := os.ReadFile(file)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, usageError{fmt.Errorf("--peer-key %s: no such file", file)}
	case err != nil:
		return nil, fmt.Errorf("--peer-key: %w", err)
	}
	k, err := crypto.UnmarshalPrivateKey(b)
	if err != nil {
		return nil, usageError{fmt.Errorf("--peer-key %s: not a libp2p private key (protobuf, crypto.MarshalPrivateKey): %v", file, err)}
	}
	return k, nil
}

// announceAddrs parses the --addr flags. A /p2p/<id> suffix is accepted
// when it names our own peer and removed; another peer's is an error.
func announceAddrs(flags []string, self peer.ID) ([]ma.Multiaddr, error) {
	var addrs []ma.Multiaddr
	for _, s := range flags {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return nil, usageError{fmt.Errorf("--addr %q: %v", s, err)}
		}
		tr, id := peer.SplitAddr(a)
		switch {
		case id != "" && id != self:
			return nil, usageError{fmt.Errorf("--addr %q names another peer than %s", s, self)}
		case tr == nil:
			return nil, usageError{fmt.Errorf("--addr %q has no transport part", s)}
		}
		addrs = append(addrs, tr)
	}
	return addrs, nil
}
