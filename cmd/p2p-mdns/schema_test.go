package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chorus-services/discovery/internal/doctor"
)

// schemaField is one key of a documented JSON schema.
type schemaField struct {
	key, typ string
	optional bool
}

// docSchemas reads the "# JSON schemas" block of doc.go: name → fields.
func docSchemas(t *testing.T) map[string][]schemaField {
	t.Helper()
	lines := schemaLines(t, "doc.go", "//\t")
	out := map[string][]schemaField{}
	for _, l := range lines {
		f := strings.Fields(l)
		var fields []schemaField
		for _, kv := range f[1:] {
			k, typ, ok := strings.Cut(kv, ":")
			if !ok {
				t.Fatalf("doc.go schema %q: bad field %q", f[0], kv)
			}
			fields = append(fields, schemaField{strings.TrimSuffix(k, "?"), typ, strings.HasSuffix(k, "?")})
		}
		out[f[0]] = fields
	}
	if len(out) < 10 {
		t.Fatalf("doc.go documents %d schemas", len(out))
	}
	return out
}

// schemaLines returns the lines of the schema block of a file: those after
// the prefix that start with a schema name and a key:type pair.
func schemaLines(t *testing.T, path, prefix string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		rest, ok := strings.CutPrefix(l, prefix)
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) >= 2 && strings.Trim(f[0], "abcdefghijklmnopqrstuvwxyz.") == "" && allFields(f[1:]) {
			out = append(out, strings.Join(f, " "))
		}
	}
	return out
}

// allFields reports whether every word is a key:type pair.
func allFields(words []string) bool {
	for _, w := range words {
		_, typ, ok := strings.Cut(w, ":")
		switch typ {
		case "string", "number", "bool", "object", "{number}", "[string]", "[object]":
		default:
			ok = false
		}
		if !ok {
			return false
		}
	}
	return true
}

// TestJSONSchemaInReadme: the README shows the same schemas as the
// package documentation.
func TestJSONSchemaInReadme(t *testing.T) {
	doc := schemaLines(t, "doc.go", "//\t")
	readme := schemaLines(t, "../../README.md", "")
	if strings.Join(doc, "\n") != strings.Join(readme, "\n") {
		t.Errorf("README.md schemas differ from doc.go:\nREADME:\n%s\ndoc.go:\n%s", strings.Join(readme, "\n"), strings.Join(doc, "\n"))
	}
}

// checkSchema checks one JSON object against a documented schema: no
// undocumented key, every required key, the documented types and order;
// nested objects of [object] keys are checked against "name.key" schemas
// when documented.
func checkSchema(schemas map[string][]schemaField, name string, raw []byte) error {
	fields, ok := schemas[name]
	if !ok {
		return fmt.Errorf("no schema %q", name)
	}
	keys, vals, err := objectKeys(raw)
	if err != nil {
		return fmt.Errorf("%s: %v: %s", name, err, raw)
	}
	i := 0
	for ki, k := range keys {
		for i < len(fields) && fields[i].key != k {
			if !fields[i].optional {
				return fmt.Errorf("%s: key %q missing (or out of order) in %s", name, fields[i].key, raw)
			}
			i++
		}
		if i == len(fields) {
			return fmt.Errorf("%s: undocumented or out-of-order key %q in %s", name, k, raw)
		}
		if err := checkType(schemas, name+"."+strings.TrimSuffix(k, "s"), fields[i].typ, vals[ki]); err != nil {
			return fmt.Errorf("%s.%s: %v in %s", name, k, err, raw)
		}
		i++
	}
	for ; i < len(fields); i++ {
		if !fields[i].optional {
			return fmt.Errorf("%s: key %q missing in %s", name, fields[i].key, raw)
		}
	}
	return nil
}

func checkType(schemas map[string][]schemaField, nested, typ string, raw json.RawMessage) error {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return err
	}
	ok := false
	switch typ {
	case "string":
		_, ok = v.(string)
	case "number":
		_, ok = v.(float64)
	case "bool":
		_, ok = v.(bool)
	case "object":
		_, ok = v.(map[string]any)
	case "{number}":
		m, isMap := v.(map[string]any)
		ok = isMap
		for _, x := range m {
			_, isNum := x.(float64)
			ok = ok && isNum
		}
	case "[string]", "[object]":
		var arr []json.RawMessage
		if v == nil || json.Unmarshal(raw, &arr) != nil {
			return errors.New("not an array")
		}
		for _, el := range arr {
			if typ == "[string]" {
				var s string
				if json.Unmarshal(el, &s) != nil {
					return fmt.Errorf("element %s is not a string", el)
				}
			} else if _, documented := schemas[nested]; documented {
				if err := checkSchema(schemas, nested, el); err != nil {
					return err
				}
			}
		}
		ok = true
	default:
		return fmt.Errorf("unknown type %q in doc.go", typ)
	}
	if !ok {
		return fmt.Errorf("%s is not a %s", raw, typ)
	}
	return nil
}

// objectKeys returns the keys of a JSON object in order, and their values.
func objectKeys(raw []byte) ([]string, []json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil {
		return nil, nil, err
	}
	var keys []string
	var vals []json.RawMessage
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, err
		}
		k := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, nil, err
		}
		keys, vals = append(keys, k), append(vals, v)
	}
	return keys, vals, nil
}

// eventSchema names the schema of an event-stream line by its "event".
func eventSchema(t *testing.T, line []byte) string {
	t.Helper()
	var ev struct {
		Event string `json:"event"`
	}
	if err := json.Unmarshal(line, &ev); err != nil {
		t.Fatalf("%v: %s", err, line)
	}
	switch ev.Event {
	case evSelf, evFound, evUpdated, evLost, evConnected, evDialFailed, "peer":
		return "event"
	case "ignored", "file", "stats":
		return ev.Event
	}
	t.Fatalf("undocumented event %q: %s", ev.Event, line)
	return ""
}

// checkLines checks every line of JSON-lines output: against the schema
// named, or by its "event" key when name is "".
func checkLines(t *testing.T, schemas map[string][]schemaField, name string, out []byte) int {
	t.Helper()
	n := 0
	for _, l := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		s := name
		if s == "" {
			s = eventSchema(t, l)
		}
		if err := checkSchema(schemas, s, l); err != nil {
			t.Error(err)
		}
		n++
	}
	return n
}

// TestJSONSchemas checks every --json output that needs no network
// against the schemas documented in doc.go: replay of every capture,
// sniff --read, keygen, a doctor report and a stats record.
func TestJSONSchemas(t *testing.T) {
	schemas := docSchemas(t)
	for _, path := range replayCaptures(t) {
		for _, cmd := range [][]string{{"replay", "--json", path}, {"sniff", "--json", "--read", path}} {
			var out, errb bytes.Buffer
			if code := realMain(cmd, &out, &errb); code != 0 {
				t.Fatalf("%q: code %d: %s", cmd, code, errb.String())
			}
			name := ""
			if cmd[0] == "sniff" {
				name = "sniff"
			}
			if n := checkLines(t, schemas, name, out.Bytes()); n == 0 {
				t.Errorf("%q: no output", cmd)
			}
		}
	}
	var out, errb bytes.Buffer
	key := filepath.Join(t.TempDir(), "k")
	if code := realMain([]string{"keygen", "--json", key}, &out, &errb); code != 0 {
		t.Fatalf("keygen: %d %s", code, errb.String())
	}
	checkLines(t, schemas, "keygen", out.Bytes())

	rep := doctor.Report{Verdict: doctor.StatusWarn, Service: "_p2p._udp.local.", Duration: "5s",
		Findings: []doctor.Finding{{Check: doctor.CheckPeers, Status: doctor.StatusWarn, Message: "m", Hint: "h"}, {Check: doctor.CheckIPv6, Status: doctor.StatusOK, Message: "m"}},
		Peers:    []doctor.PeerSeen{{ID: testPeerID, Flavour: "go", Service: "x.local.", Tag: "x", Addrs: []string{}, Iface: "lan0", CanSeeUs: "no"}}}
	out.Reset()
	if err := printDoctorReport(&out, rep, true); err != nil {
		t.Fatal(err)
	}
	if err := checkSchema(schemas, "doctor", out.Bytes()); err != nil {
		t.Error(err)
	}
	out.Reset()
	if err := newStatsWriter(&out, true).write(statsEvent{Event: "stats", T: 1, Peers: []string{}, Connected: []string{}}); err != nil {
		t.Fatal(err)
	}
	checkLines(t, schemas, "", out.Bytes())
	out.Reset()
	w := newEventWriter(&out, true, false)
	if err := w.emit(newEvent(evConnected, "", nil, "", float64(time.Second))); err != nil {
		t.Fatal(err)
	}
	checkLines(t, schemas, "", out.Bytes())
}

// TestCheckSchemaRejects: the checker fails on an undocumented key, a
// missing key, a wrong type, a null array and keys out of order.
func TestCheckSchemaRejects(t *testing.T) {
	schemas := docSchemas(t)
	good := `{"id":"a","file":"f"}`
	if err := checkSchema(schemas, "keygen", []byte(good)); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{`{"id":"a","file":"f","x":1}`, `{"id":"a"}`, `{"id":1,"file":"f"}`, `{"file":"f","id":"a"}`} {
		if checkSchema(schemas, "keygen", []byte(bad)) == nil {
			t.Errorf("accepted %s", bad)
		}
	}
	if checkSchema(schemas, "event", []byte(`{"event":"found","id":"a","addrs":null,"flavour":"go","t":1}`)) == nil {
		t.Error("accepted null addrs")
	}
}
