//! `idbroker health`: asks a running server whether it is alive (or, with `--ready`, ready),
//! for container health checks (the image has no curl). Plain HTTP/1.0 over a socket, the
//! whole check within one deadline, so a hung or trickling server fails the check instead of
//! hanging it.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// How long the whole check (connect, ask, read the status line) may take.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// Where to ask: the server's listening address, with an unspecified IP (`0.0.0.0`, `::`)
/// taken as this machine's loopback.
pub fn target(listen: &str) -> anyhow::Result<SocketAddr> {
    let mut addr: SocketAddr = listen.parse().with_context(|| {
        format!("'{listen}' is not an address like 127.0.0.1:8080 (--listen or IDBROKER_LISTEN)")
    })?;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        });
    }
    Ok(addr)
}

/// `Ok` when `path` (`/healthz`: the process answers; `/readyz`: and its database does)
/// answers 200 within `CHECK_TIMEOUT`.
pub fn check(addr: SocketAddr, path: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + CHECK_TIMEOUT;
    let left = || {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
    };
    let too_slow = || {
        format!(
            "no answer from {addr}{path} within {} s",
            CHECK_TIMEOUT.as_secs()
        )
    };
    let mut stream = TcpStream::connect_timeout(&addr, CHECK_TIMEOUT)
        .with_context(|| format!("nothing answers at {addr}"))?;
    stream.set_write_timeout(left())?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")
        .with_context(|| format!("cannot ask {addr}"))?;
    // The status line is all that matters: read until its end, the connection's end, or the
    // deadline, whichever comes first.
    let mut head = Vec::with_capacity(128);
    let mut chunk = [0u8; 128];
    while !head.contains(&b'\n') && head.len() < 512 {
        let Some(time_left) = left() else { break };
        stream.set_read_timeout(Some(time_left))?;
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => head.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break;
            }
            Err(e) => return Err(e).with_context(|| format!("cannot read from {addr}")),
        }
    }
    let text = String::from_utf8_lossy(&head);
    let Some(status) = text.split_once('\n').map(|(line, _)| line.trim_end()) else {
        bail!(too_slow());
    };
    if status.split_whitespace().nth(1) == Some("200") {
        Ok(())
    } else {
        bail!(
            "{addr}{path} answered '{}'",
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
