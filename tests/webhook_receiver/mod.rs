//! Webhook endpoints for tests: a receiver that records every request
//! (answering 500 to the first few), and a tarpit that accepts
//! connections and never answers.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// One request the receiver got.
#[derive(Debug)]
pub struct Delivery {
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Delivery {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A webhook receiver answering 500 to the first `failures` requests,
/// 200 afterwards; every request (failed or not) is reported.
pub async fn receiver(
    listener: TcpListener,
    failures: usize,
) -> mpsc::UnboundedReceiver<(u16, Delivery)> {
    receiver_with(listener, failures, None).await
}

/// [`receiver`], behind TLS when `tls` is given.
pub async fn receiver_with(
    listener: TcpListener,
    failures: usize,
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> mpsc::UnboundedReceiver<(u16, Delivery)> {
    let mut served = 0usize;
    let answer = move |_: &Delivery| {
        served += 1;
        if served <= failures {
            500
        } else {
            200
        }
    };
    answering(listener, tls, answer)
}

/// A receiver answering each request with the status `answer` gives it.
pub fn answering(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    mut answer: impl FnMut(&Delivery) -> u16 + Send + 'static,
) -> mpsc::UnboundedReceiver<(u16, Delivery)> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let mut stream: Box<dyn Stream> = match &tls {
                Some(acceptor) => match acceptor.accept(tcp).await {
                    Ok(s) => Box::new(s),
                    Err(_) => continue,
                },
                None => Box::new(tcp),
            };
            let mut raw = Vec::new();
            let mut buf = [0u8; 4096];
            let delivery = loop {
                let n = stream.read(&mut buf).await.unwrap_or(0);
                if n == 0 {
                    break None;
                }
                raw.extend_from_slice(&buf[..n]);
                if let Some(d) = parse(&raw) {
                    break Some(d);
                }
            };
            let Some(delivery) = delivery else { continue };
            let status = answer(&delivery);
            let reply =
                format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            let _ = stream.write_all(reply.as_bytes()).await;
            let _ = tx.send((status, delivery));
        }
    });
    rx
}

trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Stream for T {}

fn parse(raw: &[u8]) -> Option<Delivery> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let headers: Vec<(String, String)> = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())?;
    let body = raw.get(split + 4..split + 4 + length)?;
    Some(Delivery {
        headers,
        body: String::from_utf8_lossy(body).to_string(),
    })
}

/// What a tarpit saw: a connection accepted, or one the client closed.
#[derive(Debug, PartialEq, Eq)]
pub enum Tarpit {
    Accepted(usize),
    Closed(usize),
}

/// An endpoint that accepts every connection, reads what comes and never
/// answers; it reports each connection and when the client gives up on it.
pub async fn tarpit(listener: TcpListener) -> mpsc::UnboundedReceiver<Tarpit> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut n = 0;
        while let Ok((mut tcp, _)) = listener.accept().await {
            n += 1;
            let _ = tx.send(Tarpit::Accepted(n));
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while matches!(tcp.read(&mut buf).await, Ok(k) if k > 0) {}
                let _ = tx.send(Tarpit::Closed(n));
            });
        }
    });
    rx
}
