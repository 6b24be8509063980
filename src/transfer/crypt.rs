//! Encryption of shards to keys the user holds (age, age-encryption.org/v1).
//!
//! In: recipients (`age1…` X25519 public keys, `ssh-ed25519 …` / `ssh-rsa …`
//! public keys) from `--encrypt-to` and `--recipients-file`; identities
//! (an `age-keygen` file, or an unencrypted SSH private key) for `unpack`.
//! Out: an encrypting `Write` wrapper ([`encrypt`]) and a decrypting `Read`
//! wrapper ([`decrypt`]), both streaming in age's 64 KiB chunks. The files
//! are ordinary age files: `age -d -i key.txt shard-000000.tar.age` reads
//! them.

use std::io::{self, BufRead, Read, Write};
use std::path::Path;
use std::str::FromStr;

/// A parsed recipient and the text it came from.
pub struct Recipient {
    /// As given (for the index: public keys only).
    pub text: String,
    key: Box<dyn age::Recipient + Send>,
}

impl std::fmt::Debug for Recipient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// Parses one recipient: an age X25519 key or an SSH public key.
pub fn parse_recipient(s: &str) -> Result<Recipient, String> {
    let t = s.trim();
    let key: Box<dyn age::Recipient + Send> = if t.starts_with("age1") {
        Box::new(
            age::x25519::Recipient::from_str(t)
                .map_err(|e| format!("recipient {t:?} is not a valid age key: {e}"))?,
        )
    } else if t.starts_with("ssh-") {
        Box::new(
            age::ssh::Recipient::from_str(t)
                .map_err(|e| format!("recipient {:?} is not a usable SSH key: {e:?}", short(t)))?,
        )
    } else {
        return Err(format!(
            "recipient {:?} is neither an age public key (age1…) nor an SSH public key (ssh-ed25519 …, ssh-rsa …)",
            short(t)
        ));
    };
    Ok(Recipient {
        text: t.to_string(),
        key,
    })
}

fn short(s: &str) -> String {
    s.chars().take(24).collect()
}

/// Reads a recipients file (age's format: one recipient a line, `#`
/// comments and blank lines ignored); errors name the file and line.
pub fn read_recipients_file(path: &Path) -> Result<Vec<Recipient>, String> {
    let f = std::fs::File::open(path)
        .map_err(|e| format!("--recipients-file {}: {e}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in io::BufReader::new(f).lines().enumerate() {
        let line = line.map_err(|e| format!("{}:{}: {e}", path.display(), i + 1))?;
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        out.push(parse_recipient(t).map_err(|e| format!("{}:{}: {e}", path.display(), i + 1))?);
    }
    if out.is_empty() {
        return Err(format!(
            "--recipients-file {}: no recipient in it",
            path.display()
        ));
    }
    Ok(out)
}

/// Wraps `out` so that what is written is encrypted to `recipients`;
/// call `finish()` on the result to write the last chunk.
pub fn encrypt<W: Write>(
    recipients: &[Recipient],
    out: W,
) -> io::Result<age::stream::StreamWriter<W>> {
    let enc = age::Encryptor::with_recipients(recipients.iter().map(|r| r.key.as_ref() as _))
        .map_err(|e| io::Error::other(format!("cannot encrypt to these recipients: {e}")))?;
    enc.wrap_output(out)
}

/// Identities that decrypt: an age identity file or an SSH private key.
pub struct Identities(Vec<Box<dyn age::Identity>>);

/// Reads `--identity FILE`.
pub fn read_identities(path: &Path) -> Result<Identities, String> {
    let text = std::fs::read(path).map_err(|e| format!("--identity {}: {e}", path.display()))?;
    let name = path.display().to_string();
    if text.starts_with(b"-----BEGIN") {
        let id = age::ssh::Identity::from_buffer(text.as_slice(), Some(name.clone()))
            .map_err(|e| format!("--identity {name}: not a usable SSH private key: {e}"))?;
        return match id {
            age::ssh::Identity::Unencrypted(_) => Ok(Identities(vec![Box::new(id)])),
            _ => Err(format!(
                "--identity {name}: a passphrase-protected or unsupported SSH key; \
                 give an unencrypted ed25519/RSA key or an age identity file"
            )),
        };
    }
    let file = age::IdentityFile::from_buffer(text.as_slice())
        .map_err(|e| format!("--identity {name}: not an age identity file: {e}"))?;
    let ids = file
        .into_identities()
        .map_err(|e| format!("--identity {name}: {e}"))?;
    if ids.is_empty() {
        return Err(format!("--identity {name}: no identity in it"));
    }
    Ok(Identities(ids))
}

/// Wraps `input` (an age file) so that reads give the plaintext.
pub fn decrypt<R: Read>(ids: &Identities, input: R) -> io::Result<impl Read> {
    let d = age::Decryptor::new(input)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("not an age file: {e}")))?;
    d.decrypt(ids.0.iter().map(|i| i.as_ref() as _))
        .map_err(|e| {
            io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "cannot decrypt: {e} (is --identity the key of one of the index's recipients?)"
                ),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use age::secrecy::ExposeSecret;

    #[test]
    fn round_trip_and_bad_recipients() {
        let id = age::x25519::Identity::generate();
        let r = parse_recipient(&id.to_public().to_string()).unwrap();
        let mut w = encrypt(&[r], Vec::new()).unwrap();
        w.write_all(b"a shard").unwrap();
        let ct = w.finish().unwrap();
        assert!(ct.starts_with(b"age-encryption.org/v1\n"));
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key.txt");
        std::fs::write(
            &key,
            format!("# test\n{}\n", id.to_string().expose_secret()),
        )
        .unwrap();
        let ids = read_identities(&key).unwrap();
        let mut pt = Vec::new();
        decrypt(&ids, ct.as_slice())
            .unwrap()
            .read_to_end(&mut pt)
            .unwrap();
        assert_eq!(pt, b"a shard");
        let other = age::x25519::Identity::generate();
        std::fs::write(&key, other.to_string().expose_secret()).unwrap();
        let wrong = read_identities(&key).unwrap();
        let e = decrypt(&wrong, ct.as_slice()).err().unwrap();
        assert!(e.to_string().contains("--identity"), "{e}");
        assert!(parse_recipient("bob@example.com")
            .unwrap_err()
            .contains("neither"));
        assert!(parse_recipient("age1xyz")
            .unwrap_err()
            .contains("not a valid age key"));
    }
}
