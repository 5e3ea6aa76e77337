// Package pcaptest reads and writes the frames of classic pcap files for
// tests that make captures out of captures (a cooked-link copy, a capture
// repeated to a size).
package pcaptest

import (
	"io"
	"os"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Frame is one captured frame.
type Frame struct {
	CI   gopacket.CaptureInfo
	Data []byte
}

// ReadFile returns the link type and every frame of the pcap file at path;
// it fails the test when the file cannot be read.
func ReadFile(t testing.TB, path string) (layers.LinkType, []Frame) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var frames []Frame
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			return r.LinkType(), frames
		}
		if err != nil {
			t.Fatalf("%s: frame %d: %v", path, len(frames), err)
		}
		frames = append(frames, Frame{ci, data})
	}
}

// Writer writes a pcap file of one link type.
type Writer struct {
	t testing.TB
	w *pcapgo.Writer
}

// NewWriter writes the file header to w.
func NewWriter(t testing.TB, w io.Writer, link layers.LinkType) *Writer {
	t.Helper()
	pw := pcapgo.NewWriter(w)
	if err := pw.WriteFileHeader(65535, link); err != nil {
		t.Fatal(err)
	}
	return &Writer{t, pw}
}

// Write writes one frame captured at ci.Timestamp, whole.
func (w *Writer) Write(ci gopacket.CaptureInfo, data []byte) {
	w.t.Helper()
	ci.CaptureLength, ci.Length = len(data), len(data)
	if err := w.w.WritePacket(ci, data); err != nil {
		w.t.Fatal(err)
	}
}
