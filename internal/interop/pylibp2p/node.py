"""A py-libp2p node with its mDNS discovery (python-zeroconf), for this
project's namespace interop tests. It prints JSON lines like the project's
other interop peers:

  {"event":"self","id":...,"addrs":[...]}
  {"event":"found","id":...,"addrs":[...]}      (peerDiscovery handler)
  {"event":"connected","id":...,"dir":"in"|"out"|...}
  {"event":"dial_failed","id":...,"error":...}
  {"event":"stopped"}

and dials every discovered peer with host.connect, as py-libp2p's users do
(its mDNS example), unless --no-dial.

usage: python node.py [--duration SECS] [--no-dial] [--listen MULTIADDR]...
"""

import argparse
import json
import logging
import signal
import sys

import multiaddr
import trio

from libp2p import new_host
from libp2p.abc import INotifee
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.discovery.events.peerDiscovery import peerDiscovery


def emit(**kv):
    sys.stdout.write(json.dumps(kv) + "\n")
    sys.stdout.flush()


class Notifee(INotifee):
    """Reports every new connection, inbound or outbound."""

    def __init__(self):
        self.seen = set()

    async def connected(self, network, conn):
        pid = str(conn.muxed_conn.peer_id)
        if pid in self.seen:
            return
        self.seen.add(pid)
        direction = getattr(conn, "direction", None)
        emit(event="connected", id=pid, dir=str(getattr(direction, "name", direction)).lower())

    async def disconnected(self, network, conn):
        self.seen.discard(str(conn.muxed_conn.peer_id))

    async def opened_stream(self, network, stream):
        return None

    async def closed_stream(self, network, stream):
        return None

    async def listen(self, network, maddr):
        return None

    async def listen_close(self, network, maddr):
        return None


async def dialer(host, receive, dial):
    async with receive:
        async for info in receive:
            emit(event="found", id=str(info.peer_id), addrs=[str(a) for a in info.addrs])
            if not dial or info.peer_id == host.get_id():
                continue
            try:
                with trio.fail_after(10):
                    await host.connect(info)
            except BaseException as e:  # noqa: BLE001 - every failure is reported
                if isinstance(e, (KeyboardInterrupt, SystemExit)):
                    raise
                emit(event="dial_failed", id=str(info.peer_id), error=repr(e))


async def main(args):
    listen = [multiaddr.Multiaddr(a) for a in args.listen or ["/ip4/0.0.0.0/tcp/0"]]
    host = new_host(key_pair=create_new_key_pair(), enable_mDNS=True, listen_addrs=listen)
    send, receive = trio.open_memory_channel(64)
    token = trio.lowlevel.current_trio_token()

    def on_discovered(info):
        # Called on python-zeroconf's browser thread.
        try:
            trio.from_thread.run_sync(send.send_nowait, info, trio_token=token)
        except (trio.WouldBlock, trio.RunFinishedError, trio.Cancelled):
            pass

    peerDiscovery.register_peer_discovered_handler(on_discovered)
    host.get_network().register_notifee(Notifee())
    async with host.run(listen_addrs=listen), trio.open_nursery() as nursery:
        emit(event="self", id=str(host.get_id()), addrs=[str(a) for a in host.get_transport_addrs()])
        nursery.start_soon(dialer, host, receive, not args.no_dial)
        with trio.move_on_after(args.duration):
            with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as sigs:
                async for _ in sigs:
                    break
        peerDiscovery.unregister_peer_discovered_handler(on_discovered)
        nursery.cancel_scope.cancel()
    emit(event="stopped")


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--duration", type=float, default=20)
    p.add_argument("--no-dial", action="store_true")
    p.add_argument("--listen", action="append")
    p.add_argument("--debug", action="store_true")
    a = p.parse_args()
    logging.basicConfig(level=logging.DEBUG if a.debug else logging.WARNING, stream=sys.stderr)
    trio.run(main, a)
