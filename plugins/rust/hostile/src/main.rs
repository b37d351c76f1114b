//! `hostile`: a WASI preview1 command that misbehaves on request (`{"do": "..."}` on stdin):
//! spin, bomb, deep, panic, garbage, file, env, socket, fail, ok. The host must contain each.

use std::io::{Read, Write};

fn deep(n: u64) -> u64 {
    if n == 0 {
        0
    } else {
        1 + deep(std::hint::black_box(n + 1))
    }
}

fn main() {
    let mut text = String::new();
    let _ = std::io::stdin().read_to_string(&mut text);
    let input: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let out = match input["do"].as_str().unwrap_or("ok") {
        "spin" => loop {
            std::hint::black_box(0);
        },
        "bomb" => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(vec![1u8; 16 << 20]);
                std::hint::black_box(&hoard);
            }
        }
        "deep" => serde_json::json!(deep(1)),
        "panic" => panic!("the hostile command panicked on purpose"),
        "garbage" => {
            let _ = write!(std::io::stdout(), "this is not JSON {{{{");
            return;
        }
        "file" => match std::fs::read_to_string("/etc/passwd") {
            Ok(s) => serde_json::json!({"leaked": s.len()}),
            Err(e) => serde_json::json!({"denied": e.to_string()}),
        },
        "env" => match std::env::var("HOME")
            .or_else(|_| std::env::var("PATH"))
            .or_else(|_| std::env::var("SECRET"))
        {
            Ok(v) => serde_json::json!({"leaked": v}),
            Err(e) => {
                serde_json::json!({"denied": e.to_string(), "vars": std::env::vars().map(|(k, _)| k).filter(|k| k != "WASMSTEP_CONTEXT").collect::<Vec<_>>()})
            }
        },
        "granted-env" => serde_json::json!({"value": std::env::var("GREETING").ok()}),
        "socket" => match std::net::TcpStream::connect("127.0.0.1:9") {
            Ok(_) => serde_json::json!({"leaked": "connected"}),
            Err(e) => serde_json::json!({"denied": e.to_string()}),
        },
        "fail" => {
            let _ = write!(
                std::io::stdout(),
                "{}",
                serde_json::json!({"error": "Refused", "cause": "the command said no"})
            );
            std::process::exit(3);
        }
        "crash" => {
            eprintln!("something broke badly");
            std::process::exit(2);
        }
        _ => serde_json::json!({"ok": true}),
    };
    let _ = write!(std::io::stdout(), "{out}");
}
