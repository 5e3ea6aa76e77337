// A js-libp2p node with @libp2p/mdns discovery, for the namespace interop
// tests. It prints JSON lines: {"event":"self"|"peer:discovery"|"connected"|"stopped", ...}.
// usage: node node.mjs <seconds> [--service TAG] [--interval MS] [listen multiaddr ...]
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { mdns } from '@libp2p/mdns'

const args = process.argv.slice(2)
const seconds = Number(args.shift() ?? 20)
let serviceTag
let interval = 1000
const listen = []
while (args.length > 0) {
  const a = args.shift()
  if (a === '--service') serviceTag = args.shift()
  else if (a === '--interval') interval = Number(args.shift())
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
node.addEventListener('peer:discovery', (evt) => {
  emit({ event: 'peer:discovery', id: evt.detail.id.toString(), addrs: evt.detail.multiaddrs.map(String) })
})
node.addEventListener('peer:connect', (evt) => {
  emit({ event: 'connected', id: evt.detail.toString() })
})
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
