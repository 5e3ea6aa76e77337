package rustwire_test

import (
	"testing"

	"github.com/chorus-services/discovery/internal/interop/rustwire"
	"github.com/chorus-services/discovery/mdns"
)

const id = "12D3KooWSfsqkSUU6DTgDKK6RuxGJs7poPksfrxQEFwNNvmy32vT"

// The emulated format is what our decoder classifies as rust-libp2p's.
func TestRoundTrip(t *testing.T) {
	q, err := mdns.Parse(rustwire.Query())
	if err != nil || !rustwire.Asks(q) || len(rustwire.Query()) != 33 {
		t.Fatalf("query: %v", err)
	}
	b, err := rustwire.Response(q.Id, id, []string{"/ip4/198.51.100.11/tcp/4001", "/ip4/198.51.100.11/udp/4001/quic-v1"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := mdns.Parse(b)
	if err != nil || m.Id != q.Id || len(m.Question) != 0 || len(m.Extra) != 2 {
		t.Fatalf("response: %v %v", err, m)
	}
	res := mdns.NewDecoder(mdns.SpecService, 0).Decode(m, false)
	if len(res.Candidates) != 1 || res.Candidates[0].Flavour != mdns.FlavourRust || len(res.Candidates[0].Addrs) != 2 {
		t.Fatalf("decoded %+v", res)
	}
	if rustwire.Asks(m) {
		t.Error("a response is not a query")
	}
}
