// Test and bench code: panicking on a broken fixture is the point (clippy.toml covers only #[test] fns).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! A Redis server that misbehaves, written here: one that answers one byte per second, one that
//! announces a 999,999,999,999-byte bulk reply and then sends slowly, one that floods such a
//! reply as fast as it can. The real binary must end every call with a one-line error naming
//! the server, keep its memory bounded, and keep the console answering keys.
//! (No real Redis is needed: the point is a server that is not one.)

mod pty_console;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What the fake server does on each connection after reading the client's first bytes.
#[derive(Clone, Copy)]
enum Behaviour {
    /// A valid-looking reply (`*1\r\n$5\r\nhello\r\n` …), one byte per second, forever.
    Drip,
    /// `$999999999999\r\n`, then 4 KiB every 100 ms, forever.
    HugeSlow,
    /// `$999999999999\r\n`, then as fast as the client reads.
    HugeFlood,
}

/// Listens on a free loopback port; every connection gets `behaviour` on its own thread.
fn serve(behaviour: Behaviour) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            std::thread::spawn(move || misbehave(conn, behaviour));
        }
    });
    port
}

fn misbehave(mut conn: TcpStream, behaviour: Behaviour) {
    // Wait for the client to ask something, so the reply is to a command.
    let mut first = [0u8; 1024];
    if conn.read(&mut first).unwrap_or(0) == 0 {
        return;
    }
    let result: std::io::Result<()> = (|| match behaviour {
        Behaviour::Drip => {
            let reply = b"*2\r\n$1\r\n0\r\n*1\r\n$4000000\r\n".iter().chain(std::iter::repeat(&b'x'));
            for b in reply {
                conn.write_all(&[*b])?;
                std::thread::sleep(Duration::from_secs(1));
            }
            Ok(())
        }
        Behaviour::HugeSlow => {
            conn.write_all(b"$999999999999\r\n")?;
            loop {
                conn.write_all(&[b'x'; 4096])?;
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        Behaviour::HugeFlood => {
            conn.write_all(b"$999999999999\r\n")?;
            let chunk = vec![b'x'; 1 << 20];
            loop {
                conn.write_all(&chunk)?;
            }
        }
    })();
    let _ = result; // the client hung up: that is what we want
}

/// A process's resident-memory high-water mark in MiB, from /proc.
fn peak_rss_mib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}

/// Waits for `child` to end, at most `limit` (then kills it and fails), sampling its peak
/// memory as it runs. Returns the exit code and the highest peak seen.
fn wait_bounded(child: &mut Child, limit: Duration) -> (Option<i32>, u64) {
    let started = Instant::now();
    let mut peak = 0;
    loop {
        if let Some(rss) = peak_rss_mib(child.id()) {
            peak = peak.max(rss);
        }
        if let Some(status) = child.try_wait().expect("wait") {
            return (status.code(), peak);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("quell still running after {limit:?} against a misbehaving server (peak {peak} MiB)");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `quell sessions` against the server at `port`: the exit code, stderr and peak memory.
fn sessions_against(port: u16) -> (Option<i32>, String, u64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "").expect("config");
    let mut child = Command::new(env!("CARGO_BIN_EXE_quell"))
        .arg("--store")
        .arg(dir.path().join("quell.db"))
        .arg("--redis")
        .arg(format!("redis://127.0.0.1:{port}"))
        .arg("sessions")
        .env("QUELL_CONFIG", &config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn quell");
    let mut stderr = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let (code, peak) = wait_bounded(&mut child, Duration::from_secs(60));
    (code, reader.join().unwrap_or_default(), peak)
}

/// `quell sessions` against a server that behaves so: exit 6 with one line naming the server
/// and saying `says`, in bounded time and memory.
fn sessions_fail_with(behaviour: Behaviour, says: &str) {
    let port = serve(behaviour);
    let (code, err, peak) = sessions_against(port);
    assert_eq!(code, Some(6), "backend unavailable: exit 6; stderr: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err:?}");
    assert!(err.contains(&format!("redis://127.0.0.1:{port}: {says}")), "names the server, says {says:?}: {err}");
    assert!(peak < 200, "memory stays bounded: peak {peak} MiB");
}

#[test]
fn a_server_dripping_one_byte_a_second_ends_the_call_with_one_line_naming_it() {
    sessions_fail_with(Behaviour::Drip, "no complete reply within 10 s");
}

#[test]
fn a_huge_announced_reply_sent_slowly_ends_the_call_without_buffering_it() {
    sessions_fail_with(Behaviour::HugeSlow, "no complete reply within 10 s");
}

#[test]
fn a_huge_reply_flooded_at_full_speed_is_cut_off_at_the_size_bound() {
    sessions_fail_with(Behaviour::HugeFlood, "a reply larger than 64 MiB");
}

#[test]
fn the_console_keeps_reading_keys_while_the_server_drips_and_q_quits() {
    let port = serve(Behaviour::Drip);
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("redis://127.0.0.1:{port}");
    let mut c = pty_console::Console::open(&dir.path().join("quell.db"), &["--redis", &url]);
    // The console is up (its title bar is drawn) while the first fleet read is still hanging.
    let screen = c.wait_for("quell · fleet");
    assert!(screen.contains("loading…"), "the first fleet read has not come back: {screen}");
    // It answers keys: the help view opens and closes while the read hangs.
    c.send("?");
    let help = c.wait_for("quell · help");
    assert!(help.contains("loading…"), "still no answer from the server: {help}");
    c.send("\x1b");
    c.wait_for("quell · fleet");
    c.send("q");
    assert_eq!(c.wait_exit(), 0, "q quits while the backend hangs");
}
