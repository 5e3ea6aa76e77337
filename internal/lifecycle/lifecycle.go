// Package lifecycle is the one Run/Close contract of the responder and the
// browser, kept in one place: Run runs once (a second call gets the
// component's ErrRunning, a call after Close its ErrClosed); Close may be
// called any number of times, from any goroutine, before, during or after
// Run; it stops Run and waits for it to return. It imports nothing of this
// module (the dialer, which may import nothing of it, keeps its own).
package lifecycle

import "sync"

// State is the lifecycle of one component. The zero value is not usable:
// make it with New.
type State struct {
	mu      sync.Mutex
	started bool
	closed  bool
	closing chan struct{} // closed by the first Close
	done    chan struct{} // closed by Finish
}

// New returns the State of a component neither run nor closed.
func New() *State {
	return &State{closing: make(chan struct{}), done: make(chan struct{})}
}

// Start is Run's first call. It returns errClosed after Close and
// errRunning when Run has started before; otherwise nil, and Run must then
// call Finish when it returns (defer it at once).
func (s *State) Start(errRunning, errClosed error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return errClosed
	case s.started:
		return errRunning
	}
	s.started = true
	return nil
}

// Closing is closed by the first Close: Run's loop returns when it is.
func (s *State) Closing() <-chan struct{} { return s.closing }

// Finish is Run's last call: Close waits for it.
func (s *State) Finish() { close(s.done) }

// Close closes Closing (the first time) and, when Run has started, waits
// for it to Finish. It reports whether the caller must release what Run
// would have released on return (its View, …): true exactly once, on the
// first Close of a component whose Run never started.
func (s *State) Close() (release bool) {
	s.mu.Lock()
	first := !s.closed
	s.closed = true
	started := s.started
	s.mu.Unlock()
	if first {
		close(s.closing)
	}
	if started {
		<-s.done
	}
	return first && !started
}
