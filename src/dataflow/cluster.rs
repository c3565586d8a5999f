//! Scale-out start-up. Connects the processes of a cluster itself, with a deadline: timely's
//! own set-up waits forever for a missing peer and polls once a second, which cost about a
//! second per start. Then, before any work, every process sends every other one a
//! fingerprint of its inputs and options, and all of them refuse to start on a mismatch,
//! naming what differs: a process given other labels would otherwise evaluate its units
//! against other truth and the tables would be silently wrong.
//!
//! Wiring: process `i` listens on its own address and dials every process below it, which
//! is the layout timely expects from [`initialize_networking_from_sockets`]; the dialling
//! process introduces itself with a magic word and its index.
//!
//! [`initialize_networking_from_sockets`]: timely::communication::allocator::zero_copy::initialize::initialize_networking_from_sockets

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::ops::DerefMut;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use timely::communication::allocator::zero_copy::bytes_slab::BytesRefill;
use timely::communication::allocator::zero_copy::initialize::initialize_networking_from_sockets;
use timely::communication::allocator::{GenericBuilder, Process};
use timely::communication::{Allocator, WorkerGuards};
use timely::worker::Worker;

/// How long a process waits for the others by default.
pub const DEFAULT_PEER_TIMEOUT: Duration = Duration::from_secs(60);

/// What a dialling process sends first: this word, then its index (u64, big-endian).
const HELLO: &[u8; 8] = b"entangl1";

/// The largest fingerprint a peer may send (it is a few hundred bytes).
const MAX_FINGERPRINT: u64 = 1 << 20;

/// What all processes must agree on: named items with their values, in a fixed order.
pub type Fingerprint = Vec<(String, String)>;

/// Connects to the other processes, checks that they share `fingerprint`, and runs `work`
/// on this process's `threads` workers over those connections.
pub fn execute<T, F>(
    addresses: &[String],
    me: usize,
    threads: usize,
    timeout: Duration,
    fingerprint: &Fingerprint,
    work: F,
) -> anyhow::Result<WorkerGuards<T>>
where
    T: Send + 'static,
    F: Fn(&mut Worker<Allocator>) -> T + Send + Sync + 'static,
{
    let started = Instant::now();
    let mut sockets = connect(addresses, me, timeout)?;
    agree(&mut sockets, me, fingerprint, timeout)?;
    tracing::info!(
        processes = addresses.len(),
        seconds = started.elapsed().as_secs_f64(),
        "connected to the other processes; they share inputs and options"
    );
    let refill = BytesRefill {
        logic: Arc::new(|size| Box::new(vec![0_u8; size]) as Box<dyn DerefMut<Target = [u8]>>),
        limit: None,
    };
    let (builders, guard) = initialize_networking_from_sockets::<_, Process>(
        sockets,
        me,
        threads,
        refill,
        Arc::new(|_| None),
    )
    .context("cannot start the network threads")?;
    let builders = builders.into_iter().map(GenericBuilder::ZeroCopy).collect();
    timely::execute::execute_from(builders, Box::new(guard), Default::default(), work)
        .map_err(|e| anyhow::anyhow!("cannot start the dataflow: {e}"))
}

/// One stream to every other process (`None` at `me`), within `timeout`.
pub fn connect(
    addresses: &[String],
    me: usize,
    timeout: Duration,
) -> anyhow::Result<Vec<Option<TcpStream>>> {
    let deadline = Instant::now() + timeout;
    let n = addresses.len();
    // Bind before dialling, so the processes above can reach this one while it waits for
    // those below.
    let listener = match me + 1 < n {
        true => Some(
            TcpListener::bind(&addresses[me])
                .with_context(|| format!("process {me}: cannot listen on {}", addresses[me]))?,
        ),
        false => None,
    };
    let mut sockets: Vec<Option<TcpStream>> = (0..n).map(|_| None).collect();
    for (peer, address) in addresses.iter().enumerate().take(me) {
        sockets[peer] = Some(dial(address, me, peer, deadline, timeout)?);
    }
    if let Some(listener) = listener {
        listener.set_nonblocking(true)?;
        while sockets[me + 1..].iter().any(Option::is_none) {
            match listener.accept() {
                Ok((stream, _)) => match greet(stream, me, n, deadline) {
                    Ok((peer, stream)) if sockets[peer].is_none() => sockets[peer] = Some(stream),
                    Ok((peer, _)) => tracing::warn!("process {peer} connected twice; ignored"),
                    // Something else knocked at the port (a scanner, a stale client).
                    Err(e) => tracing::warn!("{}: {e:#}; ignored", addresses[me]),
                },
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if Instant::now() >= deadline {
                        let missing: Vec<String> = (me + 1..n)
                            .filter(|&p| sockets[p].is_none())
                            .map(|p| format!("{p} ({})", addresses[p]))
                            .collect();
                        anyhow::bail!(
                            "process {me}: process(es) {} did not connect to {} within {:.1} s; start every process with the same --processes and --hostfile, or raise --peer-timeout",
                            missing.join(", "),
                            addresses[me],
                            timeout.as_secs_f64()
                        );
                    }
                    // Short naps: a peer that starts a moment later costs milliseconds.
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(e) => {
                    return Err(e).with_context(|| format!("{}: cannot accept", addresses[me]));
                }
            }
        }
    }
    Ok(sockets)
}

fn dial(
    address: &str,
    me: usize,
    peer: usize,
    deadline: Instant,
    timeout: Duration,
) -> anyhow::Result<TcpStream> {
    let mut nap = Duration::from_millis(1);
    loop {
        match TcpStream::connect(address) {
            Ok(mut stream) => {
                stream.set_nodelay(true)?;
                stream.write_all(HELLO)?;
                stream.write_all(&(me as u64).to_be_bytes())?;
                return Ok(stream);
            }
            Err(e) if Instant::now() >= deadline => anyhow::bail!(
                "process {me}: process {peer} at {address} did not answer within {:.1} s ({e}); start it with the same --processes and --hostfile, or raise --peer-timeout",
                timeout.as_secs_f64()
            ),
            Err(_) => {
                std::thread::sleep(nap);
                nap = (nap * 2).min(Duration::from_millis(50));
            }
        }
    }
}

/// Reads a dialling process's introduction: its index.
fn greet(
    mut stream: TcpStream,
    me: usize,
    n: usize,
    deadline: Instant,
) -> anyhow::Result<(usize, TcpStream)> {
    stream.set_nonblocking(false)?;
    stream.set_nodelay(true)?;
    let wait = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(100));
    stream.set_read_timeout(Some(wait))?;
    let mut hello = [0u8; 16];
    stream
        .read_exact(&mut hello)
        .context("a connection that did not introduce itself")?;
    anyhow::ensure!(
        &hello[..8] == HELLO,
        "a connection that is not an entangle process"
    );
    let peer = u64::from_be_bytes(hello[8..].try_into().expect("8 bytes")) as usize;
    anyhow::ensure!(
        peer > me && peer < n,
        "a connection from process {peer}, which should not dial process {me} of {n}"
    );
    stream.set_read_timeout(None)?;
    Ok((peer, stream))
}

/// Sends `mine` to every peer, reads theirs, and fails (in every process alike) when any
/// item differs, naming it with both values.
pub fn agree(
    sockets: &mut [Option<TcpStream>],
    me: usize,
    mine: &Fingerprint,
    timeout: Duration,
) -> anyhow::Result<()> {
    let bytes = serde_json::to_vec(mine)?;
    for (peer, stream) in sockets.iter_mut().enumerate() {
        if let Some(stream) = stream {
            stream
                .write_all(&(bytes.len() as u64).to_be_bytes())
                .and_then(|()| stream.write_all(&bytes))
                .with_context(|| format!("cannot send the fingerprint to process {peer}"))?;
        }
    }
    let mine_by_name: BTreeMap<&str, &str> =
        mine.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut differences = Vec::new();
    for (peer, stream) in sockets.iter_mut().enumerate() {
        let Some(stream) = stream else { continue };
        let theirs = receive(stream, timeout)
            .with_context(|| format!("process {me}: no fingerprint from process {peer}"))?;
        let theirs: BTreeMap<&str, &str> = theirs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let names: std::collections::BTreeSet<&str> =
            mine_by_name.keys().chain(theirs.keys()).copied().collect();
        for name in names {
            let (a, b) = (mine_by_name.get(name), theirs.get(name));
            if a != b {
                differences.push(format!(
                    "{name}: process {me} has {}, process {peer} has {}",
                    a.unwrap_or(&"nothing"),
                    b.unwrap_or(&"nothing")
                ));
            }
        }
    }
    anyhow::ensure!(
        differences.is_empty(),
        "the processes were not started alike, so none of them runs:\n  {}",
        differences.join("\n  ")
    );
    Ok(())
}

fn receive(stream: &mut TcpStream, timeout: Duration) -> anyhow::Result<Fingerprint> {
    stream.set_read_timeout(Some(timeout))?;
    let mut len = [0u8; 8];
    stream.read_exact(&mut len)?;
    let len = u64::from_be_bytes(len);
    anyhow::ensure!(len <= MAX_FINGERPRINT, "a fingerprint of {len} bytes");
    let mut bytes = vec![0u8; len as usize];
    stream.read_exact(&mut bytes)?;
    stream.set_read_timeout(None)?;
    Ok(serde_json::from_slice(&bytes)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn free_addresses(n: usize) -> Vec<String> {
        let listeners: Vec<_> = (0..n)
            .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
            .collect();
        listeners
            .iter()
            .map(|l| l.local_addr().unwrap().to_string())
            .collect()
    }

    fn start(addresses: &[String], fingerprints: Vec<Fingerprint>) -> Vec<anyhow::Result<()>> {
        let handles: Vec<_> = fingerprints
            .into_iter()
            .enumerate()
            .map(|(me, print)| {
                let addresses = addresses.to_vec();
                std::thread::spawn(move || {
                    let mut sockets = connect(&addresses, me, Duration::from_secs(5))?;
                    agree(&mut sockets, me, &print, Duration::from_secs(5))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    }

    fn print(labels: &str) -> Fingerprint {
        vec![
            ("processes".into(), "3".into()),
            ("labels".into(), labels.into()),
        ]
    }

    #[test]
    fn processes_that_agree_connect() {
        let addresses = free_addresses(3);
        for result in start(&addresses, vec![print("a"), print("a"), print("a")]) {
            result.unwrap();
        }
    }

    #[test]
    fn every_process_refuses_a_mismatch_and_names_it() {
        let addresses = free_addresses(3);
        let results = start(&addresses, vec![print("a"), print("a"), print("b")]);
        for result in results {
            let err = format!("{:#}", result.unwrap_err());
            assert!(err.contains("labels: process"), "{err}");
            assert!(err.contains("has b"), "{err}");
        }
    }

    /// Seconds from start until both of two "processes" (threads here) run a worker:
    /// timely's own set-up against ours. Run by hand (`--ignored --nocapture`); the numbers
    /// are in the README.
    #[test]
    #[ignore]
    fn connect_time_timely_against_ours() {
        fn time(start: impl Fn(usize, Vec<String>) + Send + Sync + Clone + 'static) -> f64 {
            let addresses = free_addresses(2);
            let started = Instant::now();
            let handles: Vec<_> = (0..2)
                .map(|me| {
                    let (start, addresses) = (start.clone(), addresses.clone());
                    std::thread::spawn(move || start(me, addresses))
                })
                .collect();
            handles.into_iter().for_each(|h| h.join().unwrap());
            started.elapsed().as_secs_f64()
        }
        for _ in 0..3 {
            let timely = time(|me, addresses| {
                let config = timely::Config {
                    communication: timely::CommunicationConfig::Cluster {
                        threads: 1,
                        process: me,
                        addresses,
                        report: false,
                        zerocopy: false,
                        log_fn: Arc::new(|_| None),
                    },
                    worker: Default::default(),
                };
                timely::execute(config, |w| w.index()).unwrap().join();
            });
            let ours = time(|me, addresses| {
                let print = vec![("x".to_string(), "y".to_string())];
                execute(&addresses, me, 1, Duration::from_secs(10), &print, |w| {
                    w.index()
                })
                .unwrap()
                .join();
            });
            println!(
                "2 processes x 1 worker, start to workers running: timely {timely:.3} s, ours {ours:.3} s"
            );
        }
    }

    #[test]
    fn a_missing_peer_times_out_with_a_clear_error() {
        let addresses = free_addresses(2);
        let started = Instant::now();
        let err = connect(&addresses, 1, Duration::from_millis(300)).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(2));
        let err = format!("{err:#}");
        assert!(err.contains("process 0 at"), "{err}");
        assert!(err.contains("did not answer within 0.3 s"), "{err}");
        let err = format!(
            "{:#}",
            connect(&addresses, 0, Duration::from_millis(300)).unwrap_err()
        );
        assert!(err.contains("process(es) 1"), "{err}");
    }
}
