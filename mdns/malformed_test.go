package mdns_test

import (
	"errors"
	"testing"

	"github.com/chorus-services/discovery/internal/malformed"
	"github.com/chorus-services/discovery/mdns"
)

// TestMalformedCorpus: every hostile packet is either refused by Parse with
// ErrMalformed, or parses and yields no peer.
func TestMalformedCorpus(t *testing.T) {
	dec := mdns.NewDecoder(mdns.SpecService, 0)
	for _, c := range malformed.Cases() {
		t.Run(c.Name, func(t *testing.T) {
			m, err := mdns.Parse(c.Data)
			if !c.Parse {
				if !errors.Is(err, mdns.ErrMalformed) {
					t.Fatalf("Parse accepted it (err %v)", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("valid DNS refused: %v", err)
			}
			kind, err := mdns.Classify(m)
			if err != nil {
				return // ignored as §18.3 asks
			}
			res := dec.Decode(m, true)
			if len(res.Candidates) != 0 {
				t.Fatalf("%v yielded a peer: %+v", kind, res.Candidates)
			}
			if len(res.Rejected)+res.BadStrings == 0 && c.Name != "txt-1000-strings" {
				t.Errorf("not counted: %+v", res)
			}
		})
	}
}
