//! A TCP relay on 127.0.0.1 that passes every byte between callprep and a
//! real server unchanged and keeps a copy of what the client sent, so a test
//! can read the HTTP requests callprep made (headers a server ignores, such
//! as SSE-KMS's, included).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// One HTTP request as sent: the request line and the headers (names in
/// lower case).
#[derive(Debug, Clone)]
pub struct Request {
    pub line: String,
    pub headers: Vec<(String, String)>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A running relay to `upstream_port`.
pub struct Relay {
    /// `http://127.0.0.1:PORT`: give this to callprep instead of the server.
    pub endpoint: String,
    sent: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Relay {
    pub fn start(upstream_port: u16) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let sent = Arc::new(Mutex::new(Vec::new()));
        let log = sent.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream_port)) else {
                    continue;
                };
                let slot = {
                    let mut l = log.lock().unwrap();
                    l.push(Vec::new());
                    l.len() - 1
                };
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let log2 = log.clone();
                // client → server, recorded
                std::thread::spawn(move || pump(client, server, Some((log2, slot))));
                // server → client
                std::thread::spawn(move || pump(s2, c2, None));
            }
        });
        Relay {
            endpoint: format!("http://127.0.0.1:{port}"),
            sent,
        }
    }

    /// Every request sent through the relay so far, per connection in order.
    pub fn requests(&self) -> Vec<Request> {
        let sent = self.sent.lock().unwrap().clone();
        sent.iter().flat_map(|b| parse(b)).collect()
    }
}

type Log = (Arc<Mutex<Vec<Vec<u8>>>>, usize);

fn pump(mut from: TcpStream, mut to: TcpStream, log: Option<Log>) {
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some((l, slot)) = &log {
            l.lock().unwrap()[*slot].extend_from_slice(&buf[..n]);
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// The requests of one connection's client bytes: header blocks, each
/// followed by a `content-length` body or a chunked one.
fn parse(b: &[u8]) -> Vec<Request> {
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(end) = find(&b[pos..], b"\r\n\r\n") {
        let head = String::from_utf8_lossy(&b[pos..pos + end]).to_string();
        pos += end + 4;
        let mut lines = head.split("\r\n");
        let line = lines.next().unwrap_or_default().to_string();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let req = Request { line, headers };
        if req
            .header("transfer-encoding")
            .is_some_and(|v| v.contains("chunked"))
        {
            // size CRLF data CRLF … 0 CRLF CRLF
            loop {
                let Some(e) = find(&b[pos..], b"\r\n") else {
                    return out;
                };
                let size = std::str::from_utf8(&b[pos..pos + e])
                    .ok()
                    .and_then(|s| usize::from_str_radix(s.split(';').next()?.trim(), 16).ok())
                    .unwrap_or(0);
                pos += e + 2 + size + 2;
                if size == 0 {
                    break;
                }
            }
        } else {
            let len: usize = req
                .header("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            pos += len;
        }
        out.push(req);
        if pos >= b.len() {
            break;
        }
    }
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
