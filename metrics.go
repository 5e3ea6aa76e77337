package discovery

import "github.com/prometheus/client_golang/prometheus"

// collector exposes Metrics to Prometheus. It reads the counters on each
// scrape, so discovery's hot paths carry no metrics cost.
type collector struct {
	d     *MDNSDiscovery
	descs map[string]*prometheus.Desc
}

var metricHelp = map[string]string{
	"packets_received_total":   "mDNS datagrams read, by component",
	"packets_sent_total":       "mDNS packets sent, by kind",
	"dropped_total":            "packets or items dropped, by reason",
	"peers_known":              "peers currently known",
	"discoveries_total":        "peers found (first sighting)",
	"peers_lost_total":         "peers lost (records expired or withdrawn)",
	"dials_total":              "connection attempts, by outcome",
	"probe_conflicts_total":    "probe and record conflicts (RFC 6762 §9)",
	"queries_sent_total":       "browse queries sent",
	"queries_suppressed_total": "browse queries suppressed (RFC 6762 §7.3)",
	"socket_errors_total":      "mDNS socket failures, by operation (read, write, reopen)",
	"socket_reopens_total":     "mDNS sockets reopened after a persistent failure",
}

func newCollector(d *MDNSDiscovery) *collector {
	c := &collector{d: d, descs: map[string]*prometheus.Desc{}}
	labels := map[string][]string{
		"packets_received_total": {"component"}, "packets_sent_total": {"kind"}, "dropped_total": {"reason"}, "dials_total": {"outcome"},
		"socket_errors_total": {"op"},
	}
	for name, help := range metricHelp {
		c.descs[name] = prometheus.NewDesc("mdns_discovery_"+name, help, labels[name], prometheus.Labels{"service": d.service})
	}
	return c
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	m := c.d.Metrics()
	counter := func(name string, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(c.descs[name], prometheus.CounterValue, float64(v), labels...)
	}
	r, b, dl := m.Responder, m.Browser, m.Dialer
	counter("packets_received_total", r.Received, "responder")
	counter("packets_received_total", b.Packets, "browser")
	counter("packets_sent_total", r.Probes, "probe")
	counter("packets_sent_total", r.Announcements, "announcement")
	counter("packets_sent_total", r.AnswersMulticast+r.AnswersUnicast+r.AnswersLegacy, "answer")
	counter("packets_sent_total", r.Goodbyes, "goodbye")
	counter("packets_sent_total", b.QueriesSent, "query")
	counter("dropped_total", r.DroppedTTL+b.DroppedTTL, "ttl")
	counter("dropped_total", r.DroppedOffLink+b.DroppedOffLink, "offlink")
	counter("dropped_total", r.DroppedMalformed+b.DroppedMalformed, "malformed")
	counter("dropped_total", r.DroppedQueueFull+b.QueueFull, "queue_full")
	counter("dropped_total", b.Evicted, "evicted")
	counter("dropped_total", b.EventsDropped, "events")
	counter("dropped_total", m.PeersChanDropped, "peers_chan")
	ch <- prometheus.MustNewConstMetric(c.descs["peers_known"], prometheus.GaugeValue, float64(m.PeersKnown))
	counter("discoveries_total", uint64(m.PeersDiscovered))
	counter("peers_lost_total", uint64(m.PeersLost))
	counter("dials_total", uint64(m.ConnectionsSuccess), "success")
	counter("dials_total", uint64(m.ConnectionsFailed), "failure")
	counter("dials_total", dl.SkippedConnected, "skipped_connected")
	counter("dials_total", dl.SkippedBackoff, "skipped_backoff")
	counter("probe_conflicts_total", r.Conflicts)
	counter("queries_sent_total", b.QueriesSent)
	counter("queries_suppressed_total", b.QueriesSuppressed)
	tr := m.Transport
	counter("socket_errors_total", tr.ReadErrors, "read")
	counter("socket_errors_total", tr.WriteErrors, "write")
	counter("socket_errors_total", tr.ReopenFailures, "reopen")
	counter("socket_reopens_total", tr.Reopens)
}
