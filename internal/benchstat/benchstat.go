// Package benchstat summarises benchmark measurements over nodes, pairs or
// runs: the statistics cmd/mdns-bench writes in its JSON results and
// internal/tools/benchreport reads back.
package benchstat

import (
	"encoding/json"
	"math"
	"slices"
)

// Summary is the distribution of one metric. A statistic with no value
// is NaN, written as JSON null (and read back as NaN).
type Summary struct {
	N      int     // values summarised (NaN values are left out)
	Mean   float64 // arithmetic mean
	Median float64 // the mean of the two middle values for an even N
	P99    float64 // nearest rank: the max below 100 values
	Max    float64
}

// Summarize summarises v, leaving out NaN values.
func Summarize(v []float64) Summary {
	v = slices.DeleteFunc(slices.Clone(v), math.IsNaN)
	if len(v) == 0 {
		return Summary{Mean: math.NaN(), Median: math.NaN(), P99: math.NaN(), Max: math.NaN()}
	}
	slices.Sort(v)
	sum := 0.0
	for _, x := range v {
		sum += x
	}
	med := v[len(v)/2]
	if len(v)%2 == 0 {
		med = (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	p99 := v[int(math.Ceil(0.99*float64(len(v))))-1]
	return Summary{N: len(v), Mean: sum / float64(len(v)), Median: med, P99: p99, Max: v[len(v)-1]}
}

// summaryJSON is Summary on the wire: no value is null.
type summaryJSON struct {
	N      int      `json:"n"`
	Mean   *float64 `json:"mean"`
	Median *float64 `json:"median"`
	P99    *float64 `json:"p99"`
	Max    *float64 `json:"max"`
}

func ptr(x float64) *float64 {
	if math.IsNaN(x) {
		return nil
	}
	return &x
}

func val(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

// MarshalJSON writes NaN as null.
func (s Summary) MarshalJSON() ([]byte, error) {
	return json.Marshal(summaryJSON{s.N, ptr(s.Mean), ptr(s.Median), ptr(s.P99), ptr(s.Max)})
}

// UnmarshalJSON reads null (or a missing statistic) as NaN.
func (s *Summary) UnmarshalJSON(b []byte) error {
	var w summaryJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*s = Summary{N: w.N, Mean: val(w.Mean), Median: val(w.Median), P99: val(w.P99), Max: val(w.Max)}
	return nil
}
