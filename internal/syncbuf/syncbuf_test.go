package syncbuf

import "testing"

func TestKeepsTheTail(t *testing.T) {
	w := &Buffer{Max: 5}
	for _, s := range []string{"ab", "cd", "efg"} {
		if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	if got := w.String(); got != "cdefg" {
		t.Errorf("kept %q, want %q", got, "cdefg")
	}
}

func TestUnbounded(t *testing.T) {
	var w Buffer
	for range 3 {
		_, _ = w.Write([]byte("abc"))
	}
	if got := w.String(); got != "abcabcabc" {
		t.Errorf("kept %q", got)
	}
}
