package benchstat

import (
	"encoding/json"
	"math"
	"testing"
)

func TestSummarize(t *testing.T) {
	s := Summarize([]float64{5, 1, math.NaN(), 3, 2, 4})
	if s.N != 5 || s.Median != 3 || s.Max != 5 || s.P99 != 5 || s.Mean != 3 {
		t.Fatalf("%+v", s)
	}
	if s := Summarize([]float64{4, 1, 3, 2}); s.Median != 2.5 || s.N != 4 {
		t.Fatalf("even count: %+v", s)
	}
	v := make([]float64, 200)
	for i := range v {
		v[i] = float64(i + 1)
	}
	if s := Summarize(v); s.P99 != 198 || s.Max != 200 || s.Median != 100.5 {
		t.Fatalf("200 values: %+v", s)
	}
	if s := Summarize([]float64{math.NaN()}); s.N != 0 || !math.IsNaN(s.Median) || !math.IsNaN(s.Max) {
		t.Fatalf("no value: %+v", s)
	}
}

func TestJSON(t *testing.T) {
	b, err := json.Marshal(Summarize(nil))
	if err != nil || string(b) != `{"n":0,"mean":null,"median":null,"p99":null,"max":null}` {
		t.Fatalf("%s, %v", b, err)
	}
	var s Summary
	if err := json.Unmarshal(b, &s); err != nil || s.N != 0 || !math.IsNaN(s.Mean) || !math.IsNaN(s.Max) {
		t.Fatalf("%+v, %v", s, err)
	}
	in := Summarize([]float64{1, 2, 4})
	b, _ = json.Marshal(in)
	if err := json.Unmarshal(b, &s); err != nil || s != in {
		t.Fatalf("round trip %s: %+v, want %+v (%v)", b, s, in, err)
	}
	if err := json.Unmarshal([]byte(`{"n":"x"}`), &s); err == nil {
		t.Fatal("bad JSON accepted")
	}
}
