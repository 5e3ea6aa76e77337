package mdns

import "strings"

// smallMap is a string-keyed map for the handful of names one packet
// carries: the first smallN entries live in inline arrays (on the stack of
// a decode that does not let it escape), the rest in a map, so a packet of
// hundreds of records costs no quadratic scan.
//
// A map with fold set keys domain names: keys compare ASCII
// case-insensitively (RFC 6762 §16), so a decode lowercases (allocates) a
// name only when it spills into the map. Its keys are kept as first put.
type smallMap[V any] struct {
	n    int
	fold bool
	keys [smallN]string
	vals [smallN]V
	m    map[string]V
}

const smallN = 8

// foldMap returns an empty smallMap whose keys are domain names.
func foldMap[V any]() smallMap[V] { return smallMap[V]{fold: true} }

func (s *smallMap[V]) eq(a, b string) bool {
	if s.fold {
		return asciiFoldEqual(a, b)
	}
	return a == b
}

// mapKey is k as the spill map keys it.
func (s *smallMap[V]) mapKey(k string) string {
	if s.fold {
		return lowerASCII(k)
	}
	return k
}

// lowerASCII is s with its ASCII letters lowercased (s itself when it has
// none uppercase): the spill-map key of a name, matching asciiFoldEqual.
func lowerASCII(s string) string {
	i := strings.IndexFunc(s, func(r rune) bool { return 'A' <= r && r <= 'Z' })
	if i < 0 {
		return s
	}
	b := []byte(s)
	for ; i < len(b); i++ {
		if 'A' <= b[i] && b[i] <= 'Z' {
			b[i] += 'a' - 'A'
		}
	}
	return string(b)
}

func (s *smallMap[V]) get(k string) (V, bool) {
	for i := 0; i < s.n; i++ {
		if s.eq(s.keys[i], k) {
			return s.vals[i], true
		}
	}
	if s.m != nil {
		v, ok := s.m[s.mapKey(k)]
		return v, ok
	}
	var zero V
	return zero, false
}

func (s *smallMap[V]) put(k string, v V) {
	for i := 0; i < s.n; i++ {
		if s.eq(s.keys[i], k) {
			s.vals[i] = v
			return
		}
	}
	if s.n < smallN {
		s.keys[s.n], s.vals[s.n] = k, v
		s.n++
		return
	}
	if s.m == nil {
		s.m = make(map[string]V)
	}
	s.m[s.mapKey(k)] = v
}

// each calls f for every entry (keys as first put; in the spill map,
// lowercased when fold is set).
func (s *smallMap[V]) each(f func(string, V)) {
	for i := 0; i < s.n; i++ {
		f(s.keys[i], s.vals[i])
	}
	for k, v := range s.m {
		f(k, v)
	}
}
