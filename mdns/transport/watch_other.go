//go:build !linux

package transport

import "context"

// run polls: outside Linux there is no change notification we use.
func (w *Watcher) run(ctx context.Context) { w.poll(ctx) }
