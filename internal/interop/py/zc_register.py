#!/usr/bin/python3
"""Register a libp2p service with python-zeroconf (Debian's python3-zeroconf).

One TXT string "dnsaddr=<multiaddr>" per --dnsaddr; the raw TXT rdata is
passed as bytes because a dict cannot repeat a key. Unregisters (goodbye)
on exit. Prints JSON lines: registered, unregistered.
"""
import argparse, json, signal, threading
from zeroconf import Zeroconf, ServiceInfo, IPVersion

ap = argparse.ArgumentParser()
ap.add_argument("--service", default="_p2p._udp.local.")
ap.add_argument("--instance", required=True)
ap.add_argument("--host", required=True)
ap.add_argument("--addr", action="append", default=[])
ap.add_argument("--dnsaddr", action="append", default=[])
ap.add_argument("--port", type=int, default=4001)
ap.add_argument("--duration", type=float, default=10)
a = ap.parse_args()

def emit(**kw):
    print(json.dumps(kw), flush=True)

txt = b"".join(bytes([len(s)]) + s for s in (("dnsaddr=" + m).encode() for m in a.dnsaddr))
info = ServiceInfo(a.service, a.instance + "." + a.service, port=a.port, properties=txt,
                   server=a.host + ".local.", parsed_addresses=a.addr)
stop = threading.Event()
signal.signal(signal.SIGINT, lambda *_: stop.set())
signal.signal(signal.SIGTERM, lambda *_: stop.set())
zc = Zeroconf(ip_version=IPVersion.All)
zc.register_service(info)
emit(event="registered", instance=info.name)
stop.wait(a.duration)
zc.unregister_service(info)
emit(event="unregistered", instance=info.name)
zc.close()
emit(event="stopped")
