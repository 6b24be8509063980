//! A real Azure Blob Storage server for the tests: Microsoft's Azurite
//! emulator (npm) on 127.0.0.1, a free port, a temporary data folder, a test
//! account with its own key; killed on drop.
//!
//! Azurite and Microsoft's client (`@azure/storage-blob`, used by
//! `azurite/helper.js` to create containers and upload calls) are the
//! versions pinned in `azurite/package-lock.json`, installed once with
//! `npm ci` into `target/azurite` (or `$CALLPREP_AZURITE_DIR`) under a file
//! lock, so parallel tests do not race.

use std::fs::{self, File};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::s3server::free_port;

/// The test account (never a real one).
pub const ACCOUNT: &str = "callpreptest";
/// Its key (base64, as Azure keys are); a test checks it is never printed.
pub const KEY: &str = "Y2FsbHByZXAtdGVzdC1henVyZS1rZXktMDEyMzQ1Njc4OWFiY2RlZg==";

/// A running Azurite blob service.
pub struct Azurite {
    child: Child,
    /// The account's URL: `http://127.0.0.1:PORT/ACCOUNT` (callprep's
    /// `--endpoint` for `az://`).
    pub endpoint: String,
    _data: tempfile::TempDir,
}

fn here() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/transfer/azurite")
}

/// The folder holding `node_modules` with Azurite (installed on first use).
pub fn install_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("CALLPREP_AZURITE_DIR") {
        return PathBuf::from(p);
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/azurite");
    fs::create_dir_all(&dir).unwrap();
    let lock = File::create(dir.join(".install.lock")).unwrap();
    lock.lock().unwrap();
    let lockfile = fs::read(here().join("package-lock.json")).unwrap();
    let installed = dir.join("node_modules/.package-lock-copy.json");
    if fs::read(&installed).ok().as_deref() != Some(lockfile.as_slice()) {
        for f in ["package.json", "package-lock.json"] {
            fs::copy(here().join(f), dir.join(f)).unwrap();
        }
        let st = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--silent"])
            .current_dir(&dir)
            .status()
            .expect("npm runs (Node.js is needed for the az:// tests)");
        assert!(st.success(), "npm ci of Azurite failed");
        fs::write(&installed, &lockfile).unwrap();
    }
    dir
}

impl Azurite {
    /// Starts Azurite with the test account and the empty `containers`.
    pub fn start(containers: &[&str]) -> Azurite {
        let dir = install_dir();
        let data = tempfile::tempdir().unwrap();
        let port = free_port();
        let child = Command::new(dir.join("node_modules/.bin/azurite-blob"))
            .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
            .arg("--location")
            .arg(data.path())
            .args(["--silent", "--skipApiVersionCheck", "--disableTelemetry"])
            .env("AZURITE_ACCOUNTS", format!("{ACCOUNT}:{KEY}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("azurite-blob starts");
        let az = Azurite {
            child,
            endpoint: format!("http://127.0.0.1:{port}/{ACCOUNT}"),
            _data: data,
        };
        let t0 = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "Azurite did not listen"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        for c in containers {
            az.helper(&["create", c]);
        }
        az
    }

    /// Uploads `file` as blob `key` of `container` (with Microsoft's client).
    pub fn upload(&self, container: &str, key: &str, file: &Path) {
        self.helper(&["upload", container, key, file.to_str().unwrap()]);
    }

    fn helper(&self, args: &[&str]) {
        let out = Command::new("node")
            .arg(here().join("helper.js"))
            .args(args)
            .env("NODE_PATH", install_dir().join("node_modules"))
            .env("AZ_URL", &self.endpoint)
            .env("AZ_ACCOUNT", ACCOUNT)
            .env("AZ_KEY", KEY)
            .output()
            .expect("node runs");
        assert!(
            out.status.success(),
            "helper.js {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Environment for callprep: the account and its key.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AZURE_STORAGE_ACCOUNT_NAME", ACCOUNT.into()),
            ("AZURE_STORAGE_ACCOUNT_KEY", KEY.into()),
        ]
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
