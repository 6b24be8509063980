//! A real S3-compatible server for the tests: `s3s-fs` (crates.io) on
//! 127.0.0.1, a free port, a temporary root folder, fixed test credentials;
//! killed on drop.
//!
//! The binary is found as `$CALLPREP_S3S_FS`, `s3s-fs` on PATH, or
//! `target/s3s/bin/s3s-fs`; when none exists it is installed there once
//! (`cargo install s3s-fs@0.14.1 --features binary --locked`) under a file
//! lock, so parallel tests do not race. s3s-fs keeps each object as a plain
//! file `ROOT/BUCKET/KEY`, which lets a test look at what was stored.

use std::fs::{self, File};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Test credentials (never real ones).
pub const ACCESS_KEY: &str = "callprep-test-ak";
/// The secret key; a test checks it is never printed.
pub const SECRET_KEY: &str = "callprep-test-secret-9f3b2c";

/// A running s3s-fs.
pub struct S3Server {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    port: u16,
    /// Its root folder: `root/BUCKET/KEY` are the objects.
    pub root: tempfile::TempDir,
}

/// A port nothing listens on now (for the test servers).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The s3s-fs binary (installed on first use).
pub fn binary() -> PathBuf {
    if let Some(p) = std::env::var_os("CALLPREP_S3S_FS") {
        return PathBuf::from(p);
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for d in std::env::split_paths(&paths) {
            let p = d.join("s3s-fs");
            if p.is_file() {
                return p;
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/s3s");
    let bin = root.join("bin/s3s-fs");
    fs::create_dir_all(&root).unwrap();
    let lock = File::create(root.join(".install.lock")).unwrap();
    lock.lock().unwrap();
    if !bin.is_file() {
        let st = Command::new(env!("CARGO"))
            .args([
                "install",
                "s3s-fs@0.14.1",
                "--features",
                "binary",
                "--locked",
                "--root",
            ])
            .arg(&root)
            .status()
            .expect("cargo runs");
        assert!(st.success(), "installing s3s-fs failed");
    }
    bin
}

impl S3Server {
    /// Starts a server with the bucket `bucket` (an empty folder in its root).
    pub fn start(bucket: &str) -> S3Server {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir_all(root.path().join(bucket)).unwrap();
        let port = free_port();
        let mut s = S3Server {
            child: None,
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
            root,
        };
        s.restart();
        s
    }

    /// (Re)starts the server on the same port and root.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = Command::new(binary())
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(self.root.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("s3s-fs starts");
        self.child = Some(child);
        let t0 = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "s3s-fs did not listen"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the server (SIGKILL) and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The file holding object `key` of `bucket`.
    pub fn object_path(&self, bucket: &str, key: &str) -> PathBuf {
        self.root.path().join(bucket).join(key)
    }

    /// Environment for callprep: the credentials and a region.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.into()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.into()),
            ("AWS_REGION", "us-east-1".into()),
        ]
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.kill();
    }
}
