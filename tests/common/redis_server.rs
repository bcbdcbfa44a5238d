//! A private `redis-server` for one test: on a free loopback port, in a fresh temporary
//! directory, without persistence; killed and its directory removed on drop. Never port
//! 6379, never another instance: the guard checks that the server answering is its own
//! process.
//!
//! Include it with `#[path = "common/redis_server.rs"] mod redis_server;` in the test
//! binaries that need it (it needs `redis-server` on `PATH`: the Debian package
//! `redis-server`).
#![allow(dead_code)] // each binary uses a different part

use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long a started server has to answer a PING.
const START_TIMEOUT: Duration = Duration::from_secs(5);

/// A running `redis-server` of this test (or stopped, between [`RedisServer::stop`] and
/// [`RedisServer::restart`]).
pub struct RedisServer {
    binary: PathBuf,
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a server on a free loopback port and waits until it answers a PING.
    ///
    /// Panics when `redis-server` is not installed, or does not come up in 5 s.
    pub fn start() -> RedisServer {
        let binary = find_redis_server();
        let dir = fresh_dir();
        // A free port can be taken by someone else between our probe and the server's
        // bind: then the server exits at once, and we try another port.
        let mut last_error = String::new();
        for _ in 0..5 {
            let mut server = RedisServer {
                binary: binary.clone(),
                port: free_port(),
                dir: dir.clone(),
                child: None,
            };
            match server.launch() {
                Ok(()) => return server,
                Err(e) => {
                    last_error = e;
                    server.dir = PathBuf::new(); // keep the directory for the next try
                }
            }
        }
        let _ = fs::remove_dir_all(&dir);
        panic!("redis-server did not start: {last_error}");
    }

    /// `redis://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The server's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's working directory (its log is `redis.log` there).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Kills the server and waits for it to exit. The port and directory are kept for
    /// [`restart`](Self::restart).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the server if it runs, and starts it again on the same port, in the same
    /// directory; waits until it answers a PING.
    pub fn restart(&mut self) {
        self.stop();
        if let Err(e) = self.launch() {
            panic!("redis-server did not restart on port {}: {e}", self.port);
        }
    }

    /// Whether the server process is running.
    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// A plain connection to the server, for a test to look at or meddle with its data
    /// (`KEYS`, `PTTL`, garbage values, `DEBUG SLEEP`). Read and write time out after 5 s.
    pub fn connection(&self) -> redis::Connection {
        let con = connect(&self.url(), Duration::from_secs(1))
            .unwrap_or_else(|e| panic!("cannot connect to the test's redis-server: {e}"));
        con.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        con.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
        con
    }

    /// Every key of the server with its value's type and time to live in ms (`-1`: none),
    /// sorted: for diagnostics.
    pub fn dump_keys(&self) -> Vec<String> {
        let mut con = self.connection();
        let mut keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut con).unwrap();
        keys.sort();
        keys.into_iter()
            .map(|key| {
                let kind: String = redis::cmd("TYPE").arg(&key).query(&mut con).unwrap();
                let pttl: i64 = redis::cmd("PTTL").arg(&key).query(&mut con).unwrap();
                let value = if kind == "string" {
                    let v: Vec<u8> = redis::cmd("GET").arg(&key).query(&mut con).unwrap();
                    format!(" = {:?}", String::from_utf8_lossy(&v))
                } else {
                    String::new()
                };
                format!("{key} ({kind}, pttl {pttl} ms){value}")
            })
            .collect()
    }

    /// The last `n` lines of the server's log.
    pub fn log_tail(&self, n: usize) -> String {
        let Ok(file) = File::open(self.dir.join("redis.log")) else {
            return String::new();
        };
        let lines: Vec<String> = BufReader::new(file).lines().map_while(Result::ok).collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Spawns the server on `self.port` in `self.dir` and waits for its PING.
    fn launch(&mut self) -> Result<(), String> {
        assert_ne!(self.port, 6379, "never the default Redis port");
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.dir.join("redis.log"))
            .map_err(|e| format!("cannot create the log in {}: {e}", self.dir.display()))?;
        let child = Command::new(&self.binary)
            .arg("--port")
            .arg(self.port.to_string())
            .args(["--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(&self.dir)
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .args(["--enable-debug-command", "local"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", self.binary.display()))?;
        let pid = child.id();
        self.child = Some(child);

        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                self.child = None;
                return Err(format!(
                    "it exited ({status}) on port {}; its log:\n{}",
                    self.port,
                    self.log_tail(20)
                ));
            }
            if let Ok(server_pid) = ping(&self.url()) {
                if server_pid == pid {
                    return Ok(());
                }
                // Someone else answers on our port: leave it alone.
                self.stop();
                return Err(format!(
                    "port {} is held by another redis-server (pid {server_pid})",
                    self.port
                ));
            }
            if Instant::now() > deadline {
                self.stop();
                return Err(format!(
                    "no PING answer on port {} within {START_TIMEOUT:?}; its log:\n{}",
                    self.port,
                    self.log_tail(20)
                ));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if thread::panicking() && self.child.is_some() {
            eprintln!(
                "redis-server on port {}: keys at the failure: {:?}\nlog tail:\n{}",
                self.port,
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.dump_keys()))
                    .unwrap_or_default(),
                self.log_tail(10)
            );
        }
        self.stop();
        if !self.dir.as_os_str().is_empty() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// `redis-server` on `PATH`, or a panic that says what to install.
fn find_redis_server() -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("redis-server"))
        .find(|path| path.is_file())
        .unwrap_or_else(|| {
            panic!(
                "redis-server not found: install the Debian package redis-server \
                 (apt-get install -y redis-server)"
            )
        })
}

/// A port on 127.0.0.1 that was free a moment ago (never 6379).
fn free_port() -> u16 {
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().unwrap().port();
        if port != 6379 {
            return port;
        }
    }
}

/// A new, empty directory under the system's temporary directory.
fn fresh_dir() -> PathBuf {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!(
        "failfast-redis-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    fs::create_dir(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

fn connect(url: &str, timeout: Duration) -> redis::RedisResult<redis::Connection> {
    redis::Client::open(url)?.get_connection_with_timeout(timeout)
}

/// PINGs the server at `url`; on PONG, returns its process id.
fn ping(url: &str) -> Result<u32, String> {
    let mut con = connect(url, Duration::from_millis(200)).map_err(|e| e.to_string())?;
    con.set_read_timeout(Some(Duration::from_millis(500)))
        .map_err(|e| e.to_string())?;
    let pong: String = redis::cmd("PING")
        .query(&mut con)
        .map_err(|e| e.to_string())?;
    if pong != "PONG" {
        return Err(format!("PING answered {pong:?}"));
    }
    let info: String = redis::cmd("INFO")
        .arg("server")
        .query(&mut con)
        .map_err(|e| e.to_string())?;
    info.lines()
        .find_map(|line| line.strip_prefix("process_id:"))
        .and_then(|pid| pid.trim().parse().ok())
        .ok_or_else(|| "INFO server has no process_id".to_string())
}
