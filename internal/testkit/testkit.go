// Package testkit holds the test helpers every layer of this module may
// use: one bounded wait on a condition (WaitFor) or on a channel (Recv),
// and one deterministic peer-ID maker (ID, Key). It imports nothing of
// this module, so even the dialer's tests (the dialer imports nothing of
// the module) and the mdns codec's use it. The in-memory LAN fixtures are
// its subpackage memkit (transport layer and up).
package testkit

import (
	"context"
	"math/rand"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Poll is how often WaitFor checks its condition.
const Poll = 5 * time.Millisecond

// WaitFor checks cond every Poll until it holds, and fails the test when
// it still does not after limit. Under testing/synctest the time is the
// bubble's.
func WaitFor(t testing.TB, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	if !Eventually(limit, Poll, cond) {
		t.Fatalf("%s: not within %v", what, limit)
	}
}

// Eventually checks cond every period until it holds (true) or limit has
// passed (false): WaitFor for a caller that goes on after a timeout.
func Eventually(limit, period time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(period)
	}
	return true
}

// Recv receives from ch until match accepts a value (nil accepts the
// first) and returns it; values it rejects are discarded. It fails the
// test when ch is closed first or nothing matched within limit.
func Recv[T any](t testing.TB, ch <-chan T, what string, limit time.Duration, match func(T) bool) T {
	t.Helper()
	timer := time.NewTimer(limit)
	defer timer.Stop()
	for {
		select {
		case v, ok := <-ch:
			if !ok {
				t.Fatalf("%s: channel closed", what)
			}
			if match == nil || match(v) {
				return v
			}
		case <-timer.C:
			t.Fatalf("%s: not within %v", what, limit)
		}
	}
}

// StopLimit bounds how long Run waits at the end of the test for its
// function to return.
const StopLimit = 10 * time.Second

// Run runs fn (a Run loop) in a goroutine with a context that stop, or
// the end of the test, cancels; stop then waits for fn to return and
// fails the test when fn returns an error or does not return within
// StopLimit. stop may be called more than once.
func Run(t testing.TB, what string, fn func(ctx context.Context) error) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("%s: %v", what, err)
				}
			case <-time.After(StopLimit):
				t.Fatalf("%s did not stop within %v", what, StopLimit)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// ID returns the peer ID of the ed25519 key made from seed: the same seed
// gives the same ID in every package and run.
func ID(t testing.TB, seed int) peer.ID {
	t.Helper()
	id, err := peer.IDFromPrivateKey(Key(t, seed))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// Key returns the ed25519 private key made from seed (see ID).
func Key(t testing.TB, seed int) crypto.PrivKey {
	t.Helper()
	sk, _, err := crypto.GenerateEd25519Key(rand.New(rand.NewSource(int64(seed))))
	if err != nil {
		t.Fatalf("testkit: key %d: %v", seed, err)
	}
	return sk
}
