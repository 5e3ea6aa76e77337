package mdns

import (
	"fmt"
	"testing"
)

// TestSmallMap: entries beyond the inline ones go to the map; updates,
// lookups and iteration see every entry exactly once.
func TestSmallMap(t *testing.T) {
	var s smallMap[int]
	const n = 3 * smallN
	for i := range n {
		s.put(fmt.Sprint("k", i), i)
	}
	s.put("k1", 100)                 // inline update
	s.put(fmt.Sprint("k", n-1), 200) // map update
	for i := range n {
		want := i
		switch i {
		case 1:
			want = 100
		case n - 1:
			want = 200
		}
		if v, ok := s.get(fmt.Sprint("k", i)); !ok || v != want {
			t.Errorf("k%d = %d, %v; want %d", i, v, ok, want)
		}
	}
	if _, ok := s.get("absent"); ok {
		t.Error("absent key found")
	}
	seen := map[string]int{}
	s.each(func(k string, v int) { seen[k]++ })
	if len(seen) != n {
		t.Errorf("each visited %d keys, want %d", len(seen), n)
	}
	for k, c := range seen {
		if c != 1 {
			t.Errorf("%s visited %d times", k, c)
		}
	}
}

func TestIsHostOf(t *testing.T) {
	for _, c := range []struct {
		host, label string
		want        bool
	}{
		{"abc.local.", "abc", true}, {"ABC.Local", "abc", true}, {"abc.local.x.", "abc", false},
		{"abcd.local.", "abc", false}, {"ab.local.", "abc", false}, {"abc.lokal.", "abc", false},
	} {
		if got := isHostOf(c.host, c.label); got != c.want || got != EqualNames(c.host, HostName(c.label)) {
			t.Errorf("isHostOf(%q, %q) = %v, want %v", c.host, c.label, got, c.want)
		}
	}
}

// TestFoldMap: a name-keyed map finds a name in any ASCII case, inline
// and spilled, folds no other byte, and keeps the first spelling inline.
func TestFoldMap(t *testing.T) {
	s := foldMap[int]()
	const n = 2 * smallN
	for i := range n {
		s.put(fmt.Sprintf("Peer%d._P2P._udp.local.", i), i)
	}
	for i := range n {
		if v, ok := s.get(fmt.Sprintf("pEER%d._p2p._UDP.LOCAL.", i)); !ok || v != i {
			t.Errorf("peer%d = %d, %v; want %d", i, v, ok, i)
		}
	}
	s.put("PEER0._p2p._udp.local.", 100)
	if v, _ := s.get("peer0._p2p._udp.local."); v != 100 {
		t.Errorf("update through another case: %d", v)
	}
	if s.keys[0] != "Peer0._P2P._udp.local." {
		t.Errorf("inline key %q, want the first spelling", s.keys[0])
	}
	for _, k := range []string{"péer0._p2p._udp.local.", "PÉER0._p2p._udp.local.", "peer0._p2p._udp.local"} {
		if _, ok := s.get(k); ok {
			t.Errorf("%q found", k)
		}
	}
	u := foldMap[int]()
	u.put("é", 1)
	if _, ok := u.get("É"); ok {
		t.Error("non-ASCII letters folded (RFC 4343 §3 folds ASCII only)")
	}
	if got := lowerASCII("AbÉ.Z"); got != "abÉ.z" {
		t.Errorf("lowerASCII = %q", got)
	}
}
