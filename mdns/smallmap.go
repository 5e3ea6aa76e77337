package mdns

// smallMap is a string-keyed map for the handful of names one packet
// carries: the first smallN entries live in inline arrays (on the stack of
// a decode that does not let it escape), the rest in a map, so a packet of
// hundreds of records costs no quadratic scan.
type smallMap[V any] struct {
	n    int
	keys [smallN]string
	vals [smallN]V
	m    map[string]V
}

const smallN = 8

func (s *smallMap[V]) get(k string) (V, bool) {
	for i := 0; i < s.n; i++ {
		if s.keys[i] == k {
			return s.vals[i], true
		}
	}
	if s.m != nil {
		v, ok := s.m[k]
		return v, ok
	}
	var zero V
	return zero, false
}

func (s *smallMap[V]) put(k string, v V) {
	for i := 0; i < s.n; i++ {
		if s.keys[i] == k {
			s.vals[i] = v
			return
		}
	}
	if s.m != nil {
		if _, ok := s.m[k]; ok || s.n == smallN {
			s.m[k] = v
			return
		}
	}
	if s.n < smallN {
		s.keys[s.n], s.vals[s.n] = k, v
		s.n++
		return
	}
	s.m = map[string]V{k: v}
}

// each calls f for every entry.
func (s *smallMap[V]) each(f func(string, V)) {
	for i := 0; i < s.n; i++ {
		f(s.keys[i], s.vals[i])
	}
	for k, v := range s.m {
		f(k, v)
	}
}
