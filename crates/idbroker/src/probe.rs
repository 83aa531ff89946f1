//! `idbroker health`: asks a running server whether it is ready, for container health checks
//! (the image has no curl). Plain HTTP/1.0 over a socket with a deadline on every step, so a
//! hung server fails the check instead of hanging it.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{Context, bail};

/// How long each step (connect, write, read) may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(3);

/// Where to ask: the server's listening address, with an unspecified IP (`0.0.0.0`, `::`)
/// taken as this machine's loopback.
pub fn target(listen: &str) -> anyhow::Result<SocketAddr> {
    let mut addr: SocketAddr = listen.parse().with_context(|| {
        format!("'{listen}' is not an address like 127.0.0.1:8080 (IDBROKER_LISTEN)")
    })?;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        });
    }
    Ok(addr)
}

/// `Ok` when `GET /readyz` answers 200 (the server is up and its database answers).
pub fn check(addr: SocketAddr) -> anyhow::Result<()> {
    let mut stream = TcpStream::connect_timeout(&addr, STEP_TIMEOUT)
        .with_context(|| format!("nothing answers at {addr}"))?;
    stream.set_read_timeout(Some(STEP_TIMEOUT))?;
    stream.set_write_timeout(Some(STEP_TIMEOUT))?;
    write!(stream, "GET /readyz HTTP/1.0\r\nHost: {addr}\r\n\r\n")
        .with_context(|| format!("cannot ask {addr}"))?;
    // The status line is all that matters; the body is a few bytes.
    let mut head = [0u8; 512];
    let mut read = 0;
    while read < head.len() {
        let n = stream.read(&mut head[read..]).with_context(|| {
            format!("no answer from {addr} within {} s", STEP_TIMEOUT.as_secs())
        })?;
        if n == 0 {
            break;
        }
        read += n;
    }
    let text = String::from_utf8_lossy(&head[..read]);
    let status = text.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) == Some("200") {
        Ok(())
    } else {
        bail!(
            "{addr}/readyz answered '{}'",
            status.chars().take(80).collect::<String>()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unspecified_listen_address_is_asked_on_loopback() {
        assert_eq!(
            target("0.0.0.0:8080").unwrap().to_string(),
            "127.0.0.1:8080"
        );
        assert_eq!(target("[::]:9000").unwrap().to_string(), "[::1]:9000");
        assert_eq!(target("10.0.0.5:80").unwrap().to_string(), "10.0.0.5:80");
        let err = target("localhost").unwrap_err().to_string();
        assert!(err.contains("IDBROKER_LISTEN"), "{err}");
    }
}
