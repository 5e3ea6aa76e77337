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
	"dropped_total":            "packets or items dropped for a problem, by reason (DiscoveryMetrics.Dropped)",
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
	for reason, n := range m.Dropped() {
		counter("dropped_total", n, reason)
	}
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

// Dropped returns what was dropped for a problem, by reason: the same
// figures Prometheus exports as dropped_total{reason} and p2p-mdns prints
// in --stats. Packets about other services are not drops (Ignored in the
// layers' Stats).
func (m DiscoveryMetrics) Dropped() map[string]uint64 {
	r, b, tr := m.Responder, m.Browser, m.Transport
	return map[string]uint64{
		"ttl":        r.DroppedTTL + b.DroppedTTL,         // RFC 6762 §11
		"offlink":    r.DroppedOffLink + b.DroppedOffLink, // RFC 6762 §11
		"malformed":  r.DroppedMalformed + b.DroppedMalformed,
		"port":       b.DroppedPort,                     // browser.Config.DisableEphemeralPort
		"queue_full": r.DroppedQueueFull + b.QueueFull,  // a layer's View of the sockets
		"socket":     tr.Dropped + tr.Oversize,          // the sockets' own drops
		"evicted":    b.Evicted,                         // the browser's peer and record bounds
		"events":     b.EventsDropped + m.EventsDropped, // Events
		"peers_chan": m.PeersChanDropped,                // PeersChan
		"notify":     m.NotifyDropped,                   // the drop-in's Notifee
	}
}

// DroppedTotal is the sum of Dropped.
func (m DiscoveryMetrics) DroppedTotal() uint64 {
	var n uint64
	for _, v := range m.Dropped() {
		n += v
	}
	return n
}
