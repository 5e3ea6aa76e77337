// Package syncbuf is the one concurrency-safe output buffer of the
// processes tests and tools start (the hardening node harness, mdns-bench's
// nodes, packet captures, capture sessions): with Max set it keeps only the
// last Max bytes, a bounded stderr.
package syncbuf

import "sync"

// Buffer keeps what is written to it (the last Max bytes when Max > 0);
// safe for concurrent use.
type Buffer struct {
	Max int

	mu sync.Mutex
	b  []byte
}

// Write appends p, then drops the oldest bytes beyond Max (if set).
func (w *Buffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b = append(w.b, p...)
	if over := len(w.b) - w.Max; w.Max > 0 && over > 0 {
		w.b = append(w.b[:0], w.b[over:]...)
	}
	return len(p), nil
}

// String returns the bytes kept.
func (w *Buffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.b)
}
