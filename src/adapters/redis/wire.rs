//! quell's own Redis transport: a deadline per call and a size bound per reply.
//!
//! The redis crate's sync `Connection` only offers per-syscall socket timeouts: a server that
//! answers one byte per second never trips them, and a reply that announces a
//! 999,999,999,999-byte bulk string is buffered for as long as bytes keep coming. The crate
//! also owns its socket, so neither can be fixed from outside. Hence [`Wire`]: our own socket
//! (TCP, TLS through rustls, or a Unix socket) under a [`Guard`] that, before every read and
//! write, sets the socket timeout to what is left of an absolute deadline (so a drip cannot
//! outlast it) and counts the bytes read for the reply being parsed (so an announced length
//! cannot make it buffer without bound). Replies are still parsed by the crate's own
//! [`redis::Parser`], and [`Wire`] implements [`redis::ConnectionLike`], so every command,
//! pipeline and script runs on it unchanged.
//!
//! A call that overruns leaves the connection in an unknown state: it is closed, never pooled,
//! and [`Wire::overrun`] says why, so the store can report it in one line and not retry.

use redis::{ConnectionAddr, ConnectionInfo, ConnectionLike, ErrorKind, RedisError, RedisResult, Value};
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a TCP connect may take, per address.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long one call (a command, a pipeline, a script; the login after a connect) may take,
/// from its first byte sent to its last reply byte read.
pub(crate) const CALL_DEADLINE: Duration = Duration::from_secs(10);
/// The most bytes one reply may take on the wire (a pipeline's replies each get this much).
/// quell's largest legitimate replies are a session index or a page of checkpoints: a few MB.
pub(crate) const MAX_REPLY: usize = 64 << 20;

/// Why a call was cut off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Overrun {
    /// No complete reply within this long.
    Deadline(Duration),
    /// A reply took more than this many bytes.
    TooLarge(usize),
}

impl std::fmt::Display for Overrun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Overrun::Deadline(d) => write!(f, "no complete reply within {} s", d.as_secs()),
            Overrun::TooLarge(n) => write!(f, "a reply larger than {} MiB (refused)", n >> 20),
        }
    }
}

impl std::error::Error for Overrun {}

/// A connected socket whose timeouts can be set (TCP, or a Unix socket).
trait Socket: Read + Write + Send {
    fn set_timeout(&self, reading: bool, limit: Duration) -> io::Result<()>;
}

impl Socket for TcpStream {
    fn set_timeout(&self, reading: bool, limit: Duration) -> io::Result<()> {
        if reading {
            self.set_read_timeout(Some(limit))
        } else {
            self.set_write_timeout(Some(limit))
        }
    }
}

#[cfg(unix)]
impl Socket for std::os::unix::net::UnixStream {
    fn set_timeout(&self, reading: bool, limit: Duration) -> io::Result<()> {
        if reading {
            self.set_read_timeout(Some(limit))
        } else {
            self.set_write_timeout(Some(limit))
        }
    }
}

/// The socket under an absolute deadline and a read budget (see the module docs).
struct Guard {
    socket: Box<dyn Socket>,
    deadline: Instant,
    /// Bytes the reply being read may still take.
    budget: usize,
    overrun: Option<Overrun>,
}

impl Guard {
    fn fail(&mut self, why: Overrun) -> io::Error {
        self.overrun = Some(why);
        let kind = match why {
            Overrun::Deadline(_) => io::ErrorKind::TimedOut,
            Overrun::TooLarge(_) => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, why)
    }

    /// Runs one read or write with the socket's timeout set to what is left of the deadline.
    fn timed<T>(&mut self, reading: bool, op: impl FnOnce(&mut dyn Socket) -> io::Result<T>) -> io::Result<T> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left < Duration::from_millis(1) {
            return Err(self.fail(Overrun::Deadline(CALL_DEADLINE)));
        }
        self.socket.set_timeout(reading, left)?;
        match op(self.socket.as_mut()) {
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                Err(self.fail(Overrun::Deadline(CALL_DEADLINE)))
            }
            other => other,
        }
    }
}

impl Read for Guard {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.timed(true, |s| s.read(buf))?;
        if n > self.budget {
            return Err(self.fail(Overrun::TooLarge(MAX_REPLY)));
        }
        self.budget -= n;
        Ok(n)
    }
}

impl Write for Guard {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.timed(false, |s| s.write(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

enum Stream {
    Plain(Guard),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, Guard>>),
}

impl Stream {
    fn guard(&mut self) -> &mut Guard {
        match self {
            Stream::Plain(g) => g,
            Stream::Tls(s) => &mut s.sock,
        }
    }

    fn guard_ref(&self) -> &Guard {
        match self {
            Stream::Plain(g) => g,
            Stream::Tls(s) => &s.sock,
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(g) => g.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(g) => g.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(g) => g.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// One connection to the server, on quell's own transport (see the module docs).
pub(crate) struct Wire {
    stream: Stream,
    parser: redis::Parser,
    db: i64,
    open: bool,
}

fn client_error(what: &'static str, detail: String) -> RedisError {
    RedisError::from((ErrorKind::InvalidClientConfig, what, detail))
}

fn tcp(host: &str, port: u16) -> io::Result<TcpStream> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, format!("{host}: no address"));
    for addr in (host, port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(s) => {
                s.set_nodelay(true)?;
                return Ok(s);
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Connects to the server `info` names and logs in (`AUTH`, `SELECT`), all under
/// [`CALL_DEADLINE`]. `tls` is the rustls configuration a `rediss://` server is verified with.
/// On failure, the overrun (if that is what happened) comes with the error.
pub(crate) fn connect(
    info: &ConnectionInfo,
    tls: Option<&Arc<rustls::ClientConfig>>,
) -> Result<Wire, (RedisError, Option<Overrun>)> {
    let plain = |e: RedisError| (e, None);
    let guard = |socket: Box<dyn Socket>| Guard {
        socket,
        deadline: Instant::now() + CALL_DEADLINE,
        budget: MAX_REPLY,
        overrun: None,
    };
    let stream = match info.addr() {
        ConnectionAddr::Tcp(host, port) => {
            Stream::Plain(guard(Box::new(tcp(host, *port).map_err(|e| plain(e.into()))?)))
        }
        ConnectionAddr::TcpTls { host, port, insecure, .. } => {
            if *insecure {
                return Err(plain(client_error("refused", "certificate verification cannot be turned off".into())));
            }
            let Some(config) = tls else {
                return Err(plain(client_error("refused", "no TLS configuration".into())));
            };
            let name = rustls::pki_types::ServerName::try_from(host.clone())
                .map_err(|e| plain(client_error("bad host", format!("{host}: {e}"))))?;
            let conn = rustls::ClientConnection::new(config.clone(), name)
                .map_err(|e| plain(client_error("TLS", e.to_string())))?;
            let socket = tcp(host, *port).map_err(|e| plain(e.into()))?;
            Stream::Tls(Box::new(rustls::StreamOwned::new(conn, guard(Box::new(socket)))))
        }
        #[cfg(unix)]
        ConnectionAddr::Unix(path) => {
            Stream::Plain(guard(Box::new(std::os::unix::net::UnixStream::connect(path).map_err(|e| plain(e.into()))?)))
        }
        other => return Err(plain(client_error("unsupported address", other.to_string()))),
    };
    let settings = info.redis_settings();
    let mut wire = Wire { stream, parser: redis::Parser::new(), db: settings.db(), open: true };
    let login = (|| {
        if let Some(password) = settings.password() {
            let mut auth = redis::cmd("AUTH");
            if let Some(user) = settings.username() {
                auth.arg(user);
            }
            if let Err(e) = auth.arg(password).exec(&mut wire) {
                // The server answered (WRONGPASS, NOAUTH …): the login is refused.
                if let Some(code) = e.code() {
                    let detail = format!("{code} {}", e.detail().unwrap_or_default());
                    return Err(RedisError::from((ErrorKind::AuthenticationFailed, "authentication failed", detail)));
                }
                return Err(e);
            }
        }
        if settings.db() != 0 {
            redis::cmd("SELECT").arg(settings.db()).exec(&mut wire)?;
        }
        Ok(())
    })();
    match login {
        Ok(()) => Ok(wire),
        Err(e) => {
            let overrun = wire.overrun();
            Err((e, overrun))
        }
    }
}

impl Wire {
    /// Why the last call was cut off, if it was.
    pub(crate) fn overrun(&self) -> Option<Overrun> {
        self.stream.guard_ref().overrun
    }

    /// Sends `cmd` and reads `offset + count` replies, keeping the last `count`, all before one
    /// deadline and each reply within [`MAX_REPLY`].
    fn call(&mut self, cmd: &[u8], offset: usize, count: usize) -> RedisResult<Vec<Value>> {
        if !self.open {
            return Err(RedisError::from(io::Error::new(io::ErrorKind::NotConnected, "connection closed")));
        }
        let guard = self.stream.guard();
        guard.deadline = Instant::now() + CALL_DEADLINE;
        guard.overrun = None;
        let result = self.exchange(cmd, offset, count);
        if result.is_err() {
            self.open = false;
        }
        result
    }

    fn exchange(&mut self, cmd: &[u8], offset: usize, count: usize) -> RedisResult<Vec<Value>> {
        self.stream.write_all(cmd)?;
        self.stream.flush()?;
        let mut out = Vec::with_capacity(count.min(4096));
        for i in 0..offset + count {
            self.stream.guard().budget = MAX_REPLY;
            let value = self.parser.parse_value(&mut self.stream)?;
            if i < offset {
                // Replies to a MULTI and its queued commands: an error here aborts the call.
                if let Value::ServerError(e) = value {
                    return Err(e.into());
                }
            } else {
                out.push(value);
            }
        }
        Ok(out)
    }
}

impl ConnectionLike for Wire {
    fn req_packed_command(&mut self, cmd: &[u8]) -> RedisResult<Value> {
        self.call(cmd, 0, 1)?.pop().ok_or_else(|| client_error("no reply", String::new()))
    }

    fn req_packed_commands(&mut self, cmd: &[u8], offset: usize, count: usize) -> RedisResult<Vec<Value>> {
        self.call(cmd, offset, count)
    }

    fn get_db(&self) -> i64 {
        self.db
    }

    fn check_connection(&mut self) -> bool {
        redis::cmd("PING").query::<String>(self).is_ok()
    }

    fn is_open(&self) -> bool {
        self.open
    }
}

/// The rustls configuration a `rediss://` server's certificate is verified with: the PEM
/// certificates of `ca` only, or else the system's roots.
pub(crate) fn tls_config(ca: Option<&[u8]>) -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let mut roots = rustls::RootCertStore::empty();
    match ca {
        Some(pem) => {
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert = cert.map_err(|e| format!("not a PEM certificate: {e}"))?;
                roots.add(cert).map_err(|e| format!("not a usable certificate: {e}"))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for cert in found.certs {
                // A system certificate rustls cannot use is skipped, as by the platform's tools.
                let _ = roots.add(cert);
            }
            if roots.is_empty() {
                let why = found.errors.first().map(|e| format!(": {e}")).unwrap_or_default();
                return Err(format!("no system root certificates{why}"));
            }
        }
    }
    if roots.is_empty() {
        return Err("no certificate in it".into());
    }
    Ok(Arc::new(rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth()))
}
