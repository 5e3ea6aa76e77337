package lifecycle

import (
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

var (
	errRunning = errors.New("running")
	errClosed  = errors.New("closed")
)

// run starts a Run that returns when Closing is closed, after holding on
// for hold (virtual time).
func run(s *State, hold time.Duration) (started error, returned chan struct{}) {
	returned = make(chan struct{})
	if err := s.Start(errRunning, errClosed); err != nil {
		close(returned)
		return err, returned
	}
	go func() {
		defer close(returned)
		defer s.Finish()
		<-s.Closing()
		time.Sleep(hold)
	}()
	return nil, returned
}

func TestRunOnceCloseWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := New()
		err, returned := run(s, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Start(errRunning, errClosed); err != errRunning {
			t.Errorf("second Start: %v, want errRunning", err)
		}
		t0 := time.Now()
		if s.Close() {
			t.Error("Close after Run asks for a release")
		}
		if d := time.Since(t0); d != time.Second {
			t.Errorf("Close returned after %v, want 1s (Run's return)", d)
		}
		select {
		case <-returned:
		default:
			t.Error("Close returned before Run")
		}
		if s.Close() {
			t.Error("second Close asks for a release")
		}
		if err := s.Start(errRunning, errClosed); err != errClosed {
			t.Errorf("Start after Close: %v, want errClosed", err)
		}
	})
}

func TestCloseWithoutRun(t *testing.T) {
	s := New()
	var wg sync.WaitGroup
	var mu sync.Mutex
	releases := 0
	for range 8 {
		wg.Go(func() {
			if s.Close() {
				mu.Lock()
				releases++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if releases != 1 {
		t.Errorf("%d Closes asked for a release, want exactly 1", releases)
	}
	if err := s.Start(errRunning, errClosed); err != errClosed {
		t.Errorf("Start after Close: %v, want errClosed", err)
	}
	select {
	case <-s.Closing():
	default:
		t.Error("Closing not closed")
	}
}
