package defaults

import (
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func TestApply(t *testing.T) {
	a, b := 0, 7
	if err := Apply("x", Field[int]{"A", &a, 3}, Field[int]{"B", &b, 5}); err != nil || a != 3 || b != 7 {
		t.Errorf("got %d %d %v, want 3 7 nil", a, b, err)
	}
	d := -time.Second
	err := Apply("x", Field[time.Duration]{"D", &d, time.Minute})
	if err == nil || err.Error() != "x: Config.D is negative (-1s)" {
		t.Errorf("negative duration: %v", err)
	}
	n := -2
	if err := Apply("y", Field[int]{"N", &n, 1}); err == nil || err.Error() != "y: Config.N is negative (-2)" {
		t.Errorf("negative int: %v", err)
	}
}

func TestCommon(t *testing.T) {
	svc := "CHORUS-peer-discovery"
	var logger *slog.Logger
	var rnd *rand.Rand
	if err := Common("x", &svc, &logger, &rnd); err != nil || svc != "CHORUS-peer-discovery.local." || logger == nil || rnd == nil {
		t.Errorf("Common: %v %q %v %v", err, svc, logger, rnd)
	}
	bad := "a,b"
	if err := Common("x", &bad, &logger, &rnd); err == nil || !strings.HasPrefix(err.Error(), `x: Config.Service "a,b": `) {
		t.Errorf("bad service: %v", err)
	}
}
