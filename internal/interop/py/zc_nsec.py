#!/usr/bin/python3
"""Ask for the AAAA record of a host name with python-zeroconf, once a
second up to --tries times, and print what its cache then holds for that
name as JSON lines: {"event": "nsec", "name", "next", "types", "ttl",
"unique"} for each NSEC record, {"event": "address", "type", "address"}
for each address record, then {"event": "stopped"}. It shows that
python-zeroconf parses an NSEC the responder sent (RFC 6762 section 6.1)."""
import argparse, json, time
from zeroconf import Zeroconf, IPVersion, DNSOutgoing, DNSQuestion, DNSNsec, DNSAddress
from zeroconf.const import _FLAGS_QR_QUERY, _TYPE_AAAA, _CLASS_IN

ap = argparse.ArgumentParser()
ap.add_argument("--host", required=True)  # e.g. name.local.
ap.add_argument("--tries", type=int, default=3)
a = ap.parse_args()
zc = Zeroconf(ip_version=IPVersion.V4Only)
try:
    for _ in range(a.tries):
        out = DNSOutgoing(_FLAGS_QR_QUERY)
        out.add_question(DNSQuestion(a.host, _TYPE_AAAA, _CLASS_IN))
        zc.send(out)
        time.sleep(1.2)
        if any(isinstance(r, DNSNsec) for r in zc.cache.entries_with_name(a.host)):
            break
    for r in zc.cache.entries_with_name(a.host):
        if isinstance(r, DNSNsec):
            print(json.dumps({"event": "nsec", "name": r.name, "next": r.next_name, "types": r.rdtypes, "ttl": r.ttl, "unique": r.unique}), flush=True)
        elif isinstance(r, DNSAddress):
            print(json.dumps({"event": "address", "type": r.type, "address": repr(r.address)}), flush=True)
finally:
    zc.close()
print(json.dumps({"event": "stopped"}), flush=True)
