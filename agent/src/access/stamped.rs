//! UDP receives with the time the kernel took the datagram in (Linux's
//! `SO_TIMESTAMPNS`), so an echo's round trip is not lengthened by how late
//! this process was scheduled to read it: on a host busy with a map-server,
//! that wake-up delay would otherwise show up as latency and jitter.
//!
//! Elsewhere, or when the kernel sends no stamp, `at` is `None` and callers
//! use the time they read the datagram.

use std::io;
use std::net::SocketAddr;
use std::time::SystemTime;

use tokio::net::UdpSocket;

/// One datagram: its length, its sender and when the kernel received it
/// (the wall clock, which is what the kernel stamps with).
#[derive(Debug, Clone, Copy)]
pub struct Received {
    pub len: usize,
    pub from: Option<SocketAddr>,
    pub at: Option<SystemTime>,
}

/// Ask the kernel to stamp what `socket` receives. Best effort: without it
/// receives carry no stamp.
pub fn enable(socket: &UdpSocket) {
    #[cfg(target_os = "linux")]
    {
        use nix::sys::socket::{setsockopt, sockopt::ReceiveTimestampns};
        if let Err(error) = setsockopt(socket, ReceiveTimestampns, &true) {
            tracing::debug!(%error, "no kernel receive timestamps on the echo socket");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = socket;
}

/// Receive one datagram into `buffer` (a longer one is cut to its size).
#[cfg(target_os = "linux")]
pub async fn recv(socket: &UdpSocket, buffer: &mut [u8]) -> io::Result<Received> {
    use std::io::IoSliceMut;
    use std::os::fd::AsRawFd;
    use std::time::Duration;

    use nix::sys::socket::{ControlMessageOwned, MsgFlags, SockaddrStorage, recvmsg};
    use nix::sys::time::TimeSpec;
    use tokio::io::Interest;

    let mut control = nix::cmsg_space!(TimeSpec);
    socket
        .async_io(Interest::READABLE, || {
            let mut iov = [IoSliceMut::new(buffer)];
            let message = recvmsg::<SockaddrStorage>(
                socket.as_raw_fd(),
                &mut iov,
                Some(&mut control),
                MsgFlags::MSG_DONTWAIT,
            )
            .map_err(io::Error::from)?;
            let at = message.cmsgs().ok().and_then(|mut all| {
                all.find_map(|c| match c {
                    ControlMessageOwned::ScmTimestampns(ts) => {
                        let seconds = u64::try_from(ts.tv_sec()).ok()?;
                        let nanos = u32::try_from(ts.tv_nsec()).ok()?;
                        Some(SystemTime::UNIX_EPOCH + Duration::new(seconds, nanos))
                    }
                    _ => None,
                })
            });
            let from = message.address.and_then(|a| {
                a.as_sockaddr_in()
                    .map(|v4| SocketAddr::V4((*v4).into()))
                    .or_else(|| a.as_sockaddr_in6().map(|v6| SocketAddr::V6((*v6).into())))
            });
            Ok(Received {
                len: message.bytes,
                from,
                at,
            })
        })
        .await
}

#[cfg(not(target_os = "linux"))]
pub async fn recv(socket: &UdpSocket, buffer: &mut [u8]) -> io::Result<Received> {
    let (len, from) = socket.recv_from(buffer).await?;
    Ok(Received {
        len,
        from: Some(from),
        at: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_received_datagram_carries_its_sender_and_a_stamp_before_the_read() {
        let receiver = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        enable(&receiver);
        let sender = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let to = receiver.local_addr().expect("addr");
        let sent = SystemTime::now();
        sender.send_to(b"0123456789", to).await.expect("send");
        // Read late on purpose: the stamp is the arrival, not the read.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let mut buffer = [0u8; 4];
        let got = recv(&receiver, &mut buffer).await.expect("recv");
        let read = SystemTime::now();
        assert_eq!(got.len, 4, "cut to the buffer");
        assert_eq!(&buffer, b"0123");
        assert_eq!(got.from, Some(sender.local_addr().expect("addr")));
        if cfg!(target_os = "linux") {
            let at = got.at.expect("a kernel stamp on Linux");
            let waited = read.duration_since(at).expect("stamp before the read");
            assert!(
                waited >= std::time::Duration::from_millis(45),
                "stamped {waited:?} before the read, not at arrival"
            );
            assert!(at >= sent - std::time::Duration::from_millis(5), "{at:?}");
        }
    }
}
