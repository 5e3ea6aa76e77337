package browser

import (
	"testing"
	"testing/synctest"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// syncWait waits until every goroutine of the bubble is durably
// blocked (all packets processed, all events collected).
func syncWait() { synctest.Wait() }
