//! A webhook receiver on 127.0.0.1 for the tests of status events: it answers 200 to every
//! POST and keeps the bodies.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use serde_json::Value;

/// A webhook receiver: answers 200 to every POST and keeps the bodies.
pub struct Hook {
    received: Arc<Mutex<Vec<Value>>>,
    /// Where it listens (`127.0.0.1:PORT`).
    pub addr: std::net::SocketAddr,
}

impl Hook {
    pub fn serve(listener: TcpListener) -> Hook {
        let received = Arc::new(Mutex::new(Vec::new()));
        let keep = received.clone();
        let addr = listener.local_addr().expect("the hook's address");
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let keep = keep.clone();
                std::thread::spawn(move || handle(conn, &keep));
            }
        });
        Hook { received, addr }
    }

    pub fn bodies(&self) -> Vec<Value> {
        self.received.lock().unwrap().clone()
    }
}

/// One keep-alive connection: each request's body is kept and answered 200.
fn handle(conn: TcpStream, keep: &Mutex<Vec<Value>>) {
    let mut reader = BufReader::new(conn.try_clone().expect("clone"));
    let mut out = conn;
    loop {
        let mut length = 0usize;
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            if h == "\r\n" {
                break;
            }
            if let Some((k, v)) = h.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0u8; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        keep.lock()
            .unwrap()
            .push(serde_json::from_slice(&body).unwrap_or(Value::Null));
        if out.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").is_err() {
            return;
        }
    }
}
