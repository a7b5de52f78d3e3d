//! Fixed loopback ports for what cannot bind `127.0.0.1:0` and report the
//! port back: the aggregator as a process (restarted at the same address),
//! VictoriaMetrics, the SMTP server, the demo script, a port that must stay
//! closed. In-process servers bind port 0 and read the address instead.
//!
//! Binding port 0 and closing the socket again to learn a free port leaves a
//! gap before the child binds it, in which the kernel may give the same port
//! to any other `bind(0)` or outgoing connection on the machine, and nextest
//! runs the tests next to each other in separate processes. So ports here
//! come from below the kernel's ephemeral range
//! (`/proc/sys/net/ipv4/ip_local_port_range`, 32768-60999 by default), which
//! the kernel never hands out by itself; each is claimed by an exclusive lock
//! on a file named after it, in a directory every test process shares, held
//! until this process exits; and each is checked to be bindable over TCP and
//! UDP right now (a service of the machine may listen there).

use std::collections::HashSet;
use std::fs::{File, OpenOptions, TryLockError};
use std::net::{TcpListener, UdpSocket};
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use anyhow::{Context, Result, bail};

/// The lowest port handed out: above the well-known ports of the services
/// the tests use (MariaDB, NATS, PostgreSQL, Redis) and of the demo.
const LOWEST: u16 = 15_000;
/// Used when the kernel's ephemeral range cannot be read.
const EPHEMERAL_DEFAULT: u16 = 32_768;

struct Claimed {
    ports: HashSet<u16>,
    /// The open lock files: a lock lasts as long as its file is open.
    locks: Vec<File>,
}

fn claimed() -> &'static Mutex<Claimed> {
    static CLAIMED: OnceLock<Mutex<Claimed>> = OnceLock::new();
    CLAIMED.get_or_init(|| {
        Mutex::new(Claimed {
            ports: HashSet::new(),
            locks: Vec::new(),
        })
    })
}

/// Where the lock files live: the same directory for every test process of
/// this machine's user.
fn lock_dir() -> PathBuf {
    std::env::temp_dir().join("p2pmon-test-ports")
}

/// The first port of the kernel's ephemeral range.
fn ephemeral_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .unwrap_or(EPHEMERAL_DEFAULT)
}

/// One port, claimed for the rest of this process.
pub fn free_port() -> Result<u16> {
    Ok(free_ports::<1>()?[0])
}

/// `N` distinct ports, claimed for the rest of this process (see the
/// module's documentation for why they do not come from port 0).
pub fn free_ports<const N: usize>() -> Result<[u16; N]> {
    let mut ports = [0; N];
    for port in &mut ports {
        *port = claim()?;
    }
    Ok(ports)
}

fn claim() -> Result<u16> {
    let end = ephemeral_start();
    if end <= LOWEST + 100 {
        bail!("the kernel's ephemeral ports start at {end}: no range below it to hand out");
    }
    let dir = lock_dir();
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut claimed = claimed()
        .lock()
        .map_err(|_| anyhow::anyhow!("port registry poisoned"))?;
    let span = end - LOWEST;
    // A random start, so processes starting together seldom try the same
    // files first.
    let start = fastrand::u16(0..span);
    for offset in 0..span {
        let port = LOWEST + (start + offset) % span;
        if claimed.ports.contains(&port) {
            continue;
        }
        let path = dir.join(port.to_string());
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => continue,
            Err(TryLockError::Error(error)) => {
                return Err(error).with_context(|| format!("locking {}", path.display()));
            }
        }
        if TcpListener::bind(("127.0.0.1", port)).is_err()
            || UdpSocket::bind(("127.0.0.1", port)).is_err()
        {
            // Taken by something that does not ask here; keep the lock so
            // this process does not try it again.
            claimed.ports.insert(port);
            claimed.locks.push(file);
            continue;
        }
        claimed.ports.insert(port);
        claimed.locks.push(file);
        return Ok(port);
    }
    bail!("no free port between {LOWEST} and {end}")
}
