package main

import (
	"context"
	"log/slog"
	"time"

	golog "github.com/ipfs/go-log/v2"
	"go.uber.org/zap/zapcore"
)

// routeLibp2pLogs sends go-libp2p's own logs (go-log, on zap) through our
// slog handler at our --log-level, so that they obey it and look like ours
// (component=libp2p, logger=<subsystem>), instead of go-log's colourised
// lines on stderr at its own default (error).
func routeLibp2pLogs(log *slog.Logger, lvl slog.Level) {
	zl := zapcore.InfoLevel
	switch {
	case lvl <= slog.LevelDebug:
		zl = zapcore.DebugLevel
	case lvl <= slog.LevelInfo:
		zl = zapcore.InfoLevel
	case lvl <= slog.LevelWarn:
		zl = zapcore.WarnLevel
	default:
		zl = zapcore.ErrorLevel
	}
	golog.SetupLogging(golog.Config{Level: golog.LogLevel(zl)}) // no output of its own
	golog.SetPrimaryCore(&slogCore{log: log.With("component", "libp2p"), min: zl})
	golog.SetAllLoggers(golog.LogLevel(zl))
}

// slogCore is a zapcore.Core writing to a slog.Logger.
type slogCore struct {
	log    *slog.Logger
	min    zapcore.Level
	fields []zapcore.Field
}

func (c *slogCore) Enabled(l zapcore.Level) bool { return l >= c.min }

func (c *slogCore) With(fields []zapcore.Field) zapcore.Core {
	return &slogCore{log: c.log, min: c.min, fields: append(append([]zapcore.Field(nil), c.fields...), fields...)}
}

func (c *slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *slogCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range append(append([]zapcore.Field(nil), c.fields...), fields...) {
		f.AddTo(enc)
	}
	attrs := make([]slog.Attr, 0, len(enc.Fields)+1)
	if e.LoggerName != "" {
		attrs = append(attrs, slog.String("logger", e.LoggerName))
	}
	for k, v := range enc.Fields {
		attrs = append(attrs, slog.Any(k, v))
	}
	lvl := slog.LevelInfo
	switch {
	case e.Level <= zapcore.DebugLevel:
		lvl = slog.LevelDebug
	case e.Level == zapcore.InfoLevel:
	case e.Level == zapcore.WarnLevel:
		lvl = slog.LevelWarn
	default:
		lvl = slog.LevelError
	}
	r := slog.NewRecord(time.Now(), lvl, e.Message, 0)
	r.AddAttrs(attrs...)
	return c.log.Handler().Handle(context.Background(), r)
}

func (c *slogCore) Sync() error { return nil }
