//! A rust-libp2p node using libp2p-mdns, for this project's namespace interop
//! tests. It prints JSON lines like the project's other interop peers:
//!
//!   {"event":"self","id":...,"addrs":[...]}
//!   {"event":"listen","addr":...}
//!   {"event":"found","id":...,"addrs":[...]}        (mdns::Event::Discovered)
//!   {"event":"connected","id":...,"dir":"out"|"in","addr":...}
//!   {"event":"dial_failed","id":...,"error":...}
//!   {"event":"expired","id":...}
//!   {"event":"stopped"}
//!
//! and dials every discovered peer with `swarm.dial`, as rust-libp2p's users
//! do, unless --no-dial. usage:
//!   rust-node [--duration SECS] [--ipv6] [--no-dial] [--listen MULTIADDR]...
use std::collections::BTreeMap;
use std::time::Duration;

use libp2p::futures::StreamExt;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{DialError, NetworkBehaviour, SwarmEvent};
use libp2p::{identify, mdns, noise, tcp, yamux, Multiaddr, PeerId};

#[derive(NetworkBehaviour)]
struct Behaviour {
    mdns: mdns::tokio::Behaviour,
    identify: identify::Behaviour,
}

struct Args {
    duration: Duration,
    ipv6: bool,
    dial: bool,
    listen: Vec<Multiaddr>,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args { duration: Duration::from_secs(20), ipv6: false, dial: true, listen: Vec::new() };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--duration" => {
                let v = it.next().ok_or("--duration needs seconds")?;
                let s: f64 = v.parse().map_err(|e| format!("--duration: {e}"))?;
                a.duration = Duration::from_secs_f64(s);
            }
            "--ipv6" => a.ipv6 = true,
            "--no-dial" => a.dial = false,
            "--listen" => {
                let v = it.next().ok_or("--listen needs a multiaddr")?;
                a.listen.push(v.parse().map_err(|e| format!("--listen {v}: {e}"))?);
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if a.listen.is_empty() {
        let def = if a.ipv6 { "/ip6/::/tcp/0" } else { "/ip4/0.0.0.0/tcp/0" };
        a.listen.push(def.parse().unwrap());
    }
    Ok(a)
}

fn q(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn qlist<T: ToString>(v: &[T]) -> String {
    let parts: Vec<String> = v.iter().map(|x| q(&x.to_string())).collect();
    format!("[{}]", parts.join(","))
}

fn emit(line: String) {
    println!("{line}");
}

#[tokio::main]
async fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("rust-node: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(args).await {
        eprintln!("rust-node: {e}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let ipv6 = args.ipv6;
    let mut swarm = libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(tcp::Config::default(), noise::Config::new, yamux::Config::default)?
        .with_behaviour(|key| {
            let cfg = mdns::Config { enable_ipv6: ipv6, ..Default::default() };
            let id = key.public().to_peer_id();
            Ok(Behaviour {
                mdns: mdns::tokio::Behaviour::new(cfg, id)?,
                identify: identify::Behaviour::new(identify::Config::new("/discovery-interop/1.0.0".into(), key.public())),
            })
        })?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(600)))
        .build();
    for l in &args.listen {
        swarm.listen_on(l.clone())?;
    }
    let me = *swarm.local_peer_id();
    emit(format!(r#"{{"event":"self","id":{},"addrs":{}}}"#, q(&me.to_string()), qlist(&args.listen)));

    let deadline = tokio::time::sleep(args.duration);
    tokio::pin!(deadline);
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        tokio::select! {
            _ = &mut deadline => break,
            _ = tokio::signal::ctrl_c() => break,
            _ = sigterm.recv() => break,
            ev = swarm.select_next_some() => handle(&mut swarm, ev, args.dial),
        }
    }
    emit(r#"{"event":"stopped"}"#.to_string());
    Ok(())
}

fn handle(swarm: &mut libp2p::Swarm<Behaviour>, ev: SwarmEvent<BehaviourEvent>, dial: bool) {
    match ev {
        SwarmEvent::NewListenAddr { address, .. } => {
            emit(format!(r#"{{"event":"listen","addr":{}}}"#, q(&address.to_string())));
        }
        SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Discovered(list))) => {
            let mut by_peer: BTreeMap<PeerId, Vec<Multiaddr>> = BTreeMap::new();
            for (p, a) in list {
                by_peer.entry(p).or_default().push(a);
            }
            for (p, addrs) in by_peer {
                emit(format!(r#"{{"event":"found","id":{},"addrs":{}}}"#, q(&p.to_string()), qlist(&addrs)));
                if dial && !swarm.is_connected(&p) {
                    // Dial what this event brought even while an earlier
                    // dial runs: libp2p-mdns reports a peer's addresses as
                    // they arrive (an IPv6 link-local one, which cannot be
                    // dialled without a zone, may come first), and reports
                    // each address once.
                    let opts = DialOpts::peer_id(p).addresses(addrs).condition(PeerCondition::Disconnected).build();
                    match swarm.dial(opts) {
                        // Already connected: not a failure.
                        Ok(()) | Err(DialError::DialPeerConditionFalse(_)) => {}
                        Err(e) => emit(format!(r#"{{"event":"dial_failed","id":{},"error":{}}}"#, q(&p.to_string()), q(&e.to_string()))),
                    }
                }
            }
        }
        SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Expired(list))) => {
            for (p, _) in list {
                emit(format!(r#"{{"event":"expired","id":{}}}"#, q(&p.to_string())));
            }
        }
        SwarmEvent::ConnectionEstablished { peer_id, endpoint, num_established, .. } => {
            if num_established.get() == 1 {
                let (dir, addr) = if endpoint.is_dialer() { ("out", endpoint.get_remote_address().clone()) } else { ("in", endpoint.get_remote_address().clone()) };
                emit(format!(r#"{{"event":"connected","id":{},"dir":"{}","addr":{}}}"#, q(&peer_id.to_string()), dir, q(&addr.to_string())));
            }
        }
        SwarmEvent::OutgoingConnectionError { peer_id: Some(p), error, .. } => {
            emit(format!(r#"{{"event":"dial_failed","id":{},"error":{}}}"#, q(&p.to_string()), q(&error.to_string())));
        }
        _ => {}
    }
}
