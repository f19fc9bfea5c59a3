//! The real `quell` binary in a pseudo-terminal: keys typed, the screen read back with a VT100
//! parser.
#![allow(dead_code)]

use portable_pty::{native_pty_system, CommandBuilder, PtySize};
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const ROWS: u16 = 24;
pub const COLS: u16 = 80;

pub struct Console {
    pub screen: Arc<Mutex<vt100::Parser>>,
    raw: Arc<Mutex<Vec<u8>>>,
    writer: Box<dyn Write + Send>,
    pub child: Box<dyn portable_pty::Child + Send + Sync>,
    master: Box<dyn portable_pty::MasterPty + Send>,
}

impl Console {
    pub fn open(store: &std::path::Path, extra: &[&str]) -> Console {
        Console::open_sized(store, extra, (COLS, ROWS))
    }

    pub fn open_sized(store: &std::path::Path, extra: &[&str], (cols, rows): (u16, u16)) -> Console {
        let pty = native_pty_system();
        let pair = pty.openpty(PtySize { rows, cols, pixel_width: 0, pixel_height: 0 }).expect("pty");
        let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_quell"));
        if extra.first() == Some(&"demo") {
            cmd.arg("demo");
        }
        cmd.arg("--store");
        cmd.arg(store);
        cmd.arg("--as");
        cmd.arg("alice");
        for a in extra.iter().filter(|a| **a != "demo") {
            cmd.arg(a);
        }
        cmd.env("TERM", "xterm-256color");
        cmd.env_remove("NO_COLOR");
        // An empty config file of our own, unless the test wrote one: never the user's.
        let config = store.with_extension("toml");
        if !config.exists() {
            std::fs::write(&config, "").expect("config");
        }
        cmd.env("QUELL_CONFIG", config);
        let child = pair.slave.spawn_command(cmd).expect("spawn quell");
        drop(pair.slave);
        let mut reader = pair.master.try_clone_reader().expect("reader");
        let writer = pair.master.take_writer().expect("writer");
        let screen = Arc::new(Mutex::new(vt100::Parser::new(rows, cols, 0)));
        let raw = Arc::new(Mutex::new(Vec::new()));
        {
            let (screen, raw) = (screen.clone(), raw.clone());
            std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                while let Ok(n) = reader.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    if let Ok(mut p) = screen.lock() {
                        p.process(&buf[..n]);
                    }
                    if let Ok(mut r) = raw.lock() {
                        r.extend_from_slice(&buf[..n]);
                    }
                }
            });
        }
        Console { screen, raw, writer, child, master: pair.master }
    }

    pub fn text(&self) -> String {
        self.screen.lock().map(|p| p.screen().contents()).unwrap_or_default()
    }

    pub fn wait_for(&self, needle: &str) -> String {
        self.wait_until(needle, true, Duration::from_secs(15))
    }

    /// Waits until `needle` is on screen (`present`) or gone from it; fails after `limit`.
    pub fn wait_until(&self, needle: &str, present: bool, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let text = self.text();
            if text.contains(needle) == present {
                return text;
            }
            let what = if present { "for" } else { "for the end of" };
            assert!(Instant::now() < deadline, "waited {limit:?} {what} {needle:?}; screen:\n{text}");
            std::thread::sleep(Duration::from_millis(30));
        }
    }

    pub fn send(&mut self, keys: &str) {
        self.writer.write_all(keys.as_bytes()).expect("type");
        self.writer.flush().expect("flush");
        // Let the console read the keys one batch at a time, as a person would type.
        std::thread::sleep(Duration::from_millis(60));
    }

    pub fn resize(&mut self, cols: u16, rows: u16) {
        // The parser first, so the redraw that the resize causes is read at the new size.
        if let Ok(mut p) = self.screen.lock() {
            p.screen_mut().set_size(rows, cols);
        }
        self.master.resize(PtySize { rows, cols, pixel_width: 0, pixel_height: 0 }).expect("resize");
    }

    pub fn raw(&self) -> Vec<u8> {
        self.raw.lock().map(|r| r.clone()).unwrap_or_default()
    }

    pub fn termios_flags(&self) -> String {
        self.master.get_termios().map(|t| format!("{:?}", t.local_flags)).unwrap_or_default()
    }

    pub fn wait_exit(&mut self) -> u32 {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status.exit_code();
            }
            assert!(Instant::now() < deadline, "quell did not exit; screen:\n{}", self.text());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}
