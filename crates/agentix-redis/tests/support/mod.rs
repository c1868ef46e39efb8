//! A private `redis-server` per test, with helpers to kill, pause and flush it.
//!
//! Each [`RedisServer`] runs its own `redis-server` on a free loopback port with persistence
//! off and a temporary working directory, and stops it on drop. A missing `redis-server`
//! binary fails the test instead of skipping it.

#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// A `redis-server` child process owned by one test.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
}

impl RedisServer {
    /// Starts a server on a free loopback port and waits until it replies to `PING`.
    ///
    /// # Panics
    ///
    /// Panics when `redis-server` is not installed or does not reply within 10 s.
    pub fn start() -> Self {
        Self::start_on(free_port())
    }

    /// Starts a server on `port`, for example to restart one on the port it had.
    pub fn start_on(port: u16) -> Self {
        static NEXT_DIR: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "agentix-redis-test-{}-{}-{}",
            std::process::id(),
            port,
            NEXT_DIR.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("temporary directory for redis-server");

        let child = Command::new("redis-server")
            .args(["--port", &port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            // Lets tests make the server slow with DEBUG SLEEP.
            .args(["--enable-debug-command", "yes"])
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "redis-server must be installed for these tests (apt-get install redis-server)",
            );

        let server = Self {
            child: Some(child),
            port,
            dir,
        };
        server.wait_until_ready();
        server
    }

    /// Returns the server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Returns the server's URL, database 0.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Kills the server with SIGKILL and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the server with SIGSTOP: connections stay open but no command gets a reply.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Resumes a paused server with SIGCONT.
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    /// Blocks the server for `seconds` with `DEBUG SLEEP`, from a background thread.
    pub fn sleep_in_background(&self, seconds: f64) -> thread::JoinHandle<()> {
        let port = self.port.to_string();
        let seconds = seconds.to_string();
        thread::spawn(move || {
            let status = Command::new("redis-cli")
                .args(["-h", "127.0.0.1", "-p", &port, "DEBUG", "SLEEP", &seconds])
                .stdout(Stdio::null())
                .status()
                .expect("redis-cli must be installed with redis-server");
            assert!(status.success(), "DEBUG SLEEP failed");
        })
    }

    /// Deletes every key.
    pub fn flush(&self) {
        self.cli(&["FLUSHALL"]);
    }

    /// Runs one command with `redis-cli` and returns its raw output.
    pub fn cli(&self, args: &[&str]) -> String {
        let output = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli must be installed with redis-server");
        assert!(output.status.success(), "redis-cli {args:?} failed");
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    /// Returns a blocking connection to the server.
    pub fn connection(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .expect("valid URL")
            .get_connection()
            .expect("connection to the test redis-server")
    }

    fn signal(&self, signal: &str) {
        let child = self.child.as_ref().expect("the server is running");
        let status = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .expect("kill command");
        assert!(status.success(), "kill {signal} failed");
    }

    fn wait_until_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(client) = redis::Client::open(self.url()) {
                if let Ok(mut connection) =
                    client.get_connection_with_timeout(Duration::from_secs(1))
                {
                    if redis::cmd("PING").query::<String>(&mut connection).is_ok() {
                        return;
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "redis-server on port {} did not answer PING within 10 s",
                self.port
            );
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(child) = &self.child {
            // A paused server would ignore SIGKILL's cleanup until resumed; resume it first.
            let _ = Command::new("kill")
                .args(["-CONT", &child.id().to_string()])
                .status();
        }
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Returns a loopback port that was free a moment ago.
///
/// Ports come from 20000..32000, below Linux's ephemeral range, so that the kernel never
/// hands the port of a killed server to another test's client or `bind(0)` before the
/// server is restarted on it.
pub fn free_port() -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.subsec_nanos())
        ^ std::process::id().wrapping_mul(7919);
    for _ in 0..1000 {
        let step = NEXT.fetch_add(1, Ordering::Relaxed).wrapping_mul(104_729);
        let port = 20_000 + (seed.wrapping_add(step) % 12_000) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port in 20000..32000");
}

/// Returns whether something accepts connections on `port`.
pub fn port_is_open(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}
