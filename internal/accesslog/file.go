package accesslog

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// File is an access log file that can be reopened: logrotate renames the file, then sends
// SIGUSR1, and the next lines go to a new file at the same path.
type File struct {
	path string
	mu   sync.RWMutex // writers share it; Reopen takes it alone to swap the file
	f    *os.File
}

// OpenFile opens path for appending, creating it (mode 0640) when needed.
func OpenFile(path string) (*File, error) {
	f, err := openAppend(path)
	if err != nil {
		return nil, err
	}
	return &File{path: path, f: f}, nil
}

func openAppend(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("access log: %w", err)
	}
	return f, nil
}

// Write appends p. Concurrent writes are safe: each is one write(2) on an O_APPEND file.
func (f *File) Write(p []byte) (int, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.f.Write(p)
}

// Reopen opens the path again and swaps it in. When the new file cannot be opened the old one
// stays in use, so no line is lost to a failed rotation.
func (f *File) Reopen() error {
	nf, err := openAppend(f.path)
	if err != nil {
		return err
	}
	f.mu.Lock()
	old := f.f
	f.f = nf
	f.mu.Unlock()
	return old.Close()
}

// Close closes the file.
func (f *File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.f.Close()
}

// buffered keeps up to max lines in memory and writes them together, at the latest after
// every interval: accessLog.bufferingSize, which trades a second of lines on a crash for
// fewer writes under load.
type buffered struct {
	mu    sync.Mutex
	w     io.Writer
	buf   []byte
	lines int
	max   int
	stop  chan struct{}
	done  chan struct{}
}

func newBuffered(w io.Writer, max int, interval time.Duration) *buffered {
	b := &buffered{w: w, max: max, stop: make(chan struct{}), done: make(chan struct{})}
	go b.flushEvery(interval)
	return b
}

func (b *buffered) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	b.lines++
	if b.lines >= b.max {
		b.flushLocked()
	}
	return len(p), nil
}

func (b *buffered) flushLocked() {
	if len(b.buf) > 0 {
		_, _ = b.w.Write(b.buf)
	}
	b.buf, b.lines = b.buf[:0], 0
}

func (b *buffered) flushEvery(d time.Duration) {
	defer close(b.done)
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			b.mu.Lock()
			b.flushLocked()
			b.mu.Unlock()
		}
	}
}

// Close writes what is left and stops the timer.
func (b *buffered) Close() {
	close(b.stop)
	<-b.done
	b.mu.Lock()
	b.flushLocked()
	b.mu.Unlock()
}
