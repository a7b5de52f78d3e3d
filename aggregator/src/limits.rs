//! What one client may hold of a listener: how long it may take to send a
//! request's headers and body, how long a kept-alive connection may sit
//! without a request, and how many connections one address and everyone
//! together may hold. Without these a few hundred clients sending a byte a
//! second held every descriptor and locked out agents and the dashboard.
//!
//! The caps are enforced when a connection is accepted (one over the cap is
//! closed at once, before a byte is read) and the count is given back when
//! the connection ends, however it ends.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, BodyDataStream, Bytes};
use futures_util::Stream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

pub use crate::config::limits::{HttpLimits, LimitsConfig, WebSocketLimits};

/// Open connections of one listener, in all and by client address.
#[derive(Debug)]
pub struct ConnectionCounter {
    listener: &'static str,
    max: usize,
    max_per_address: usize,
    /// Not held to `max_per_address` (see [`LimitsConfig::proxies`]).
    proxies: Vec<IpAddr>,
    open: AtomicUsize,
    by_address: Mutex<HashMap<IpAddr, usize>>,
    /// Connections closed on accept for being over a cap.
    pub refused_total: AtomicU64,
}

impl ConnectionCounter {
    pub fn new(
        listener: &'static str,
        max: usize,
        max_per_address: usize,
        proxies: &[IpAddr],
    ) -> Arc<Self> {
        Arc::new(Self {
            listener,
            max,
            max_per_address,
            proxies: proxies.to_vec(),
            open: AtomicUsize::new(0),
            by_address: Mutex::new(HashMap::new()),
            refused_total: AtomicU64::new(0),
        })
    }

    pub fn listener(&self) -> &'static str {
        self.listener
    }

    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Count a new connection from `address`, or refuse it (`None`) when
    /// the listener or that address is at its cap.
    pub fn admit(self: &Arc<Self>, address: IpAddr) -> Option<ConnectionSlot> {
        let Ok(mut by_address) = self.by_address.lock() else {
            return None;
        };
        let held = by_address.get(&address).copied().unwrap_or(0);
        let over_address = held >= self.max_per_address && !self.proxies.contains(&address);
        if over_address || self.open.load(Ordering::Relaxed) >= self.max {
            drop(by_address);
            let refused = self.refused_total.fetch_add(1, Ordering::Relaxed) + 1;
            // One line per thousand refusals: a flood must not flood the log.
            if refused % 1000 == 1 {
                tracing::warn!(
                    listener = self.listener,
                    %address,
                    refused,
                    held,
                    "Connection refused: over the listener's connection caps (limits in aggregator.yml)."
                );
            }
            return None;
        }
        by_address.insert(address, held + 1);
        self.open.fetch_add(1, Ordering::Relaxed);
        Some(ConnectionSlot {
            counter: self.clone(),
            address,
        })
    }
}

/// One admitted connection; dropping it gives its place back.
#[derive(Debug)]
pub struct ConnectionSlot {
    counter: Arc<ConnectionCounter>,
    address: IpAddr,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.counter.open.fetch_sub(1, Ordering::Relaxed);
        if let Ok(mut by_address) = self.counter.by_address.lock()
            && let Some(held) = by_address.get_mut(&self.address)
        {
            *held -= 1;
            if *held == 0 {
                by_address.remove(&self.address);
            }
        }
    }
}

/// A stream that holds its connection's place while it lives.
pub struct Counted<S> {
    inner: S,
    _slot: ConnectionSlot,
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// The acceptor of the HTTP listeners: admits a connection under the caps
/// (or closes it) before anything else, TLS included, touches it.
#[derive(Clone, Debug)]
pub struct CapAcceptor {
    counter: Arc<ConnectionCounter>,
}

impl CapAcceptor {
    pub fn new(counter: Arc<ConnectionCounter>) -> Self {
        Self { counter }
    }
}

impl<S> axum_server::accept::Accept<TcpStream, S> for CapAcceptor {
    type Stream = Counted<TcpStream>;
    type Service = S;
    type Future = std::future::Ready<io::Result<(Self::Stream, S)>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        std::future::ready(admit(&self.counter, stream).map(|stream| (stream, service)))
    }
}

/// Admit `stream` under `counter`'s caps; an error (the stream is dropped,
/// which closes it) when over them.
pub fn admit(
    counter: &Arc<ConnectionCounter>,
    stream: TcpStream,
) -> io::Result<Counted<TcpStream>> {
    let peer: SocketAddr = stream.peer_addr()?;
    let _ = stream.set_nodelay(true);
    match counter.admit(peer.ip()) {
        Some(slot) => Ok(Counted {
            inner: stream,
            _slot: slot,
        }),
        None => Err(io::Error::other(format!(
            "{} listener: over the connection caps",
            counter.listener()
        ))),
    }
}

/// Apply `limits` to an HTTP server: the first request's headers within
/// `header_timeout_s`, each next one within `idle_timeout_s`.
pub fn configure<A: axum_server::Address, Acc>(
    mut server: axum_server::Server<A, Acc>,
    limits: &HttpLimits,
) -> axum_server::Server<A, Acc> {
    let builder = server.http_builder();
    // hyper starts this clock when it waits for a request head, so on a
    // kept-alive connection it covers the idle wait and the headers.
    builder.http1().header_read_timeout(limits.idle_timeout());
    builder
        .http2()
        .keep_alive_interval(limits.idle_timeout())
        .keep_alive_timeout(limits.header_timeout());
    server.first_request_timeout(limits.header_timeout())
}

/// The error a request body gives when it did not arrive in time.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {0} s (limits: body_timeout_s)")]
pub struct BodyTimeout(pub u64);

/// Whether `error` (from reading a body) is a [`BodyTimeout`].
pub fn is_body_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(error) = current {
        if error.is::<BodyTimeout>() {
            return true;
        }
        current = error.source();
    }
    false
}

struct DeadlineStream {
    inner: BodyDataStream,
    deadline: Pin<Box<tokio::time::Sleep>>,
    seconds: u64,
    expired: bool,
}

impl Stream for DeadlineStream {
    type Item = Result<Bytes, Box<dyn std::error::Error + Send + Sync>>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.expired {
            return Poll::Ready(None);
        }
        // The deadline first: a client that dribbles a byte just in time
        // for every poll must not outlive it.
        if self.deadline.as_mut().poll(cx).is_ready() {
            self.expired = true;
            return Poll::Ready(Some(Err(Box::new(BodyTimeout(self.seconds)))));
        }
        Pin::new(&mut self.inner)
            .poll_next(cx)
            .map(|item| item.map(|chunk| chunk.map_err(Into::into)))
    }
}

/// Middleware: every request body must arrive within `limit` of its
/// headers; reading it after that fails with [`BodyTimeout`].
pub async fn body_deadline(
    axum::extract::State(limit): axum::extract::State<Duration>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let (parts, body) = request.into_parts();
    let stream = DeadlineStream {
        inner: body.into_data_stream(),
        deadline: Box::pin(tokio::time::sleep(limit)),
        seconds: limit.as_secs(),
        expired: false,
    };
    next.run(axum::extract::Request::from_parts(
        parts,
        Body::from_stream(stream),
    ))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_per_address_and_in_all_and_places_given_back() {
        let proxy: IpAddr = "127.0.0.1".parse().expect("address");
        let counter = ConnectionCounter::new("test", 3, 2, &[proxy]);
        let a: IpAddr = "127.0.0.2".parse().expect("address");
        let b: IpAddr = "127.0.0.3".parse().expect("address");
        let a1 = counter.admit(a).expect("admitted");
        let _a2 = counter.admit(a).expect("admitted");
        assert!(counter.admit(a).is_none(), "third from one address");
        let _b1 = counter.admit(b).expect("admitted");
        assert!(counter.admit(b).is_none(), "fourth in all");
        assert_eq!(counter.refused_total.load(Ordering::Relaxed), 2);
        drop(a1);
        assert_eq!(counter.open(), 2);
        assert!(
            counter.admit(b).is_some(),
            "a place given back is free again"
        );

        // A proxy is held to the listener's cap only.
        let proxied = ConnectionCounter::new("test", 3, 1, &[proxy]);
        let held: Vec<_> = (0..3).filter_map(|_| proxied.admit(proxy)).collect();
        assert_eq!(held.len(), 3);
        assert!(proxied.admit(proxy).is_none(), "the listener's cap");
    }
}
