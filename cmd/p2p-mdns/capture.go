package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync/atomic"

	"github.com/chorus-services/discovery/internal/pcapread"
)

// stdin is where a capture named "-" is read from.
var stdin io.Reader = os.Stdin

// capture is one capture being streamed: its reader, and how many bytes of
// it were read (of size, -1 when unknown), for progress reports.
type capture struct {
	name  string
	rd    *pcapread.Reader
	f     *os.File // nil for standard input
	read  atomic.Int64
	size  int64
	stdin bool
}

func (c *capture) Read(p []byte) (int, error) {
	var n int
	var err error
	if c.f != nil {
		n, err = c.f.Read(p)
	} else {
		n, err = stdin.Read(p)
	}
	c.read.Add(int64(n))
	return n, err
}

// Close closes the file (standard input is left open).
func (c *capture) Close() error {
	if c.f != nil {
		return c.f.Close()
	}
	return nil
}

// openCapture opens a capture file ("-": standard input) and reads its
// header. Every error is a usage error (unreadable input, exit code 2) and
// names the file.
func openCapture(path string) (*capture, error) {
	c := &capture{name: path, size: -1}
	if path == "-" {
		c.stdin = true
	} else {
		f, err := os.Open(path)
		if err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				return nil, usageError{err} // names the file already
			}
			return nil, usageError{fmt.Errorf("%s: %w", path, err)}
		}
		c.f = f
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			c.size = st.Size()
		}
	}
	rd, err := pcapread.NewReader(c)
	if err != nil {
		c.Close()
		return nil, usageError{fmt.Errorf("%s: %w", path, err)}
	}
	c.rd = rd
	return c, nil
}
