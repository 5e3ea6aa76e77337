package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// runKeygen writes a new ed25519 libp2p private key (protobuf, as
// crypto.MarshalPrivateKey writes it) to FILE, mode 0600, and prints its
// peer ID. It never overwrites a file.
func runKeygen(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("keygen", stdout)
	jsonOut := fs.Bool("json", false, `print {"id":"12D3…","file":"FILE"}`)
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{errors.New("give exactly one FILE")}
	}
	id, err := createKey(pos[0])
	if err != nil {
		return err
	}
	if *jsonOut {
		_, err = fmt.Fprintf(stdout, "{\"id\":%q,\"file\":%q}\n", id, pos[0])
		return err
	}
	_, err = fmt.Fprintf(stdout, "%s\n", id)
	return err
}

// createKey writes a new ed25519 key to path (which must not exist) and
// returns its peer ID.
func createKey(path string) (peer.ID, error) {
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return "", err
	}
	b, err := crypto.MarshalPrivateKey(k)
	if err != nil {
		return "", err
	}
	if dir := filepath.Dir(path); dir != "" {
		if _, err := os.Stat(dir); err != nil {
			return "", usageError{fmt.Errorf("%s: %w", path, err)}
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return "", usageError{fmt.Errorf("%s exists; keygen never overwrites a key", path)}
	}
	if err != nil {
		return "", err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(path)
		return "", err
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return "", err
	}
	return peer.IDFromPrivateKey(k)
}

// loadKey reads the libp2p private key of path. A missing file is created
// with a new ed25519 key when create is set (created reports it), so that
// `--peer-key FILE` keeps one identity from the first run on.
func loadKey(path string, create bool) (_ crypto.PrivKey, created bool, _ error) {
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && create:
		if _, err := createKey(path); err != nil {
			return nil, false, err
		}
		b, err = os.ReadFile(path)
		if err != nil {
			return nil, false, err
		}
		created = true
	case errors.Is(err, fs.ErrNotExist):
		return nil, false, usageError{fmt.Errorf("--peer-key %s: no such file", path)}
	case err != nil:
		return nil, false, usageError{fmt.Errorf("--peer-key: %w", err)}
	}
	k, err := crypto.UnmarshalPrivateKey(b)
	if err != nil {
		return nil, false, usageError{fmt.Errorf("--peer-key %s: not a libp2p private key (protobuf, crypto.MarshalPrivateKey): %v", path, err)}
	}
	return k, created, nil
}
