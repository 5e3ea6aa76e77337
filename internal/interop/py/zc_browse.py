#!/usr/bin/python3
"""Browse a service with python-zeroconf and print every resolved instance
as a JSON line {"event": "resolved", "name", "server", "addrs", "txt"}."""
import argparse, json, threading, time
from zeroconf import Zeroconf, ServiceBrowser, ServiceStateChange, IPVersion

ap = argparse.ArgumentParser()
ap.add_argument("--service", default="_p2p._udp.local.")
ap.add_argument("--duration", type=float, default=10)
a = ap.parse_args()
zc = Zeroconf(ip_version=IPVersion.All)
lock = threading.Lock()

def emit(**kw):
    with lock:
        print(json.dumps(kw), flush=True)

def on_change(zeroconf, service_type, name, state_change):
    if state_change is ServiceStateChange.Removed:
        emit(event="removed", name=name)
        return
    try:
        info = zeroconf.get_service_info(service_type, name, timeout=3000)
    except Exception as e:  # e.g. BadTypeInNameException for rust-libp2p's
        # PTR target (a bare label outside .local.): an uncaught exception
        # here would end python-zeroconf's browser thread.
        emit(event="error", name=name, error=repr(e))
        return
    if info is None:
        emit(event="unresolved", name=name)
        return
    txt = []
    raw = info.text or b""
    i = 0
    while i < len(raw):
        n = raw[i]
        txt.append(raw[i + 1:i + 1 + n].decode("utf-8", "replace"))
        i += 1 + n
    emit(event="resolved", name=name, server=info.server, addrs=info.parsed_addresses(), txt=txt)

ServiceBrowser(zc, a.service, handlers=[on_change])
time.sleep(a.duration)
zc.close()
emit(event="stopped")
