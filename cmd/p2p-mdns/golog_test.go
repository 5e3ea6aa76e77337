package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	golog "github.com/ipfs/go-log/v2"
)

// TestLibp2pLogsObeyLogLevel: go-libp2p's own logs (go-log) come out
// through our handler, in our format, only at or above --log-level.
func TestLibp2pLogsObeyLogLevel(t *testing.T) {
	var b bytes.Buffer
	for _, lvl := range []slog.Level{slog.LevelError, slog.LevelWarn} {
		b.Reset()
		routeLibp2pLogs(slog.New(slog.NewTextHandler(&b, &slog.HandlerOptions{Level: lvl})), lvl)
		l := golog.Logger("swarm2")
		l.Warnw("dial backoff", "peer", "12D3KooWtest")
		l.Errorw("listener failed", "addr", "/ip4/0.0.0.0/tcp/4001")
		out := b.String()
		if !strings.Contains(out, `level=ERROR msg="listener failed" component=libp2p logger=swarm2 addr=/ip4/0.0.0.0/tcp/4001`) {
			t.Errorf("level %v: the error line is missing or not in our format:\n%s", lvl, out)
		}
		if got := strings.Contains(out, "dial backoff"); got != (lvl <= slog.LevelWarn) {
			t.Errorf("level %v: warning printed %v:\n%s", lvl, got, out)
		}
	}
}
