package tls

import (
	"github.com/rs/zerolog"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// newZapLogger bridges certmagic's zap logs into wharf's zerolog logger, so ACME activity
// appears in wharf's log with wharf's format and level. This package is the only one that
// imports zap.
//
// certmagic narrates every step of an issuance at info level (about 25 lines per
// certificate: locks, account, each validation request). wharf logs the outcome itself
// ("certificate obtained"), so certmagic's info lines are demoted to debug; its warnings
// and errors keep their level.
func newZapLogger(log zerolog.Logger) *zap.Logger {
	return zap.New(&zapCore{log: log.With().Str("source", "certmagic").Logger()})
}

// zapCore is a zapcore.Core writing to zerolog. Fields added with With are kept encoded
// and merged into every entry.
type zapCore struct {
	log    zerolog.Logger
	fields []zapcore.Field
}

var _ zapcore.Core = (*zapCore)(nil)

func (c *zapCore) Enabled(l zapcore.Level) bool {
	zl := zerologLevel(l)
	return zl >= c.log.GetLevel() && zl >= zerolog.GlobalLevel()
}

func (c *zapCore) With(fields []zapcore.Field) zapcore.Core {
	all := make([]zapcore.Field, 0, len(c.fields)+len(fields))
	all = append(append(all, c.fields...), fields...)
	return &zapCore{log: c.log, fields: all}
}

func (c *zapCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *zapCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range c.fields {
		f.AddTo(enc)
	}
	for _, f := range fields {
		f.AddTo(enc)
	}
	ev := c.log.WithLevel(zerologLevel(e.Level))
	if e.LoggerName != "" {
		ev = ev.Str("logger", e.LoggerName)
	}
	ev.Fields(enc.Fields).Msg(e.Message)
	return nil
}

func (c *zapCore) Sync() error { return nil }

// zerologLevel maps zap levels: info is demoted (see newZapLogger), and zap's panic and
// fatal levels become errors, since a library must never stop the proxy.
func zerologLevel(l zapcore.Level) zerolog.Level {
	switch l {
	case zapcore.DebugLevel:
		return zerolog.DebugLevel
	case zapcore.InfoLevel:
		return zerolog.DebugLevel
	case zapcore.WarnLevel:
		return zerolog.WarnLevel
	}
	if l < zapcore.DebugLevel {
		return zerolog.TraceLevel
	}
	return zerolog.ErrorLevel
}
