//! Object storage behind the storage seam: `s3://bucket/prefix` (AWS S3, S3
//! on Outposts, and S3-compatible stores — MinIO, Ceph, s3s — through
//! `--endpoint`) and `az://container/prefix` (Azure Blob Storage, Azure
//! Stack, Azurite), with Apache Arrow's `object_store` crate.
//!
//! In: object URLs (`s3://bucket/key`), the [`ObjectOptions`] of the command
//! (endpoint, SSE-KMS key) and the standard AWS environment
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
//! `AWS_REGION`/`AWS_DEFAULT_REGION`, `AWS_ENDPOINT_URL`, web identity and
//! instance credentials) with the shared files' profile under it
//! ([`aws_profile`]: `AWS_PROFILE`, `~/.aws/credentials`, `~/.aws/config`);
//! for `az://`, the standard Azure environment (`AZURE_STORAGE_ACCOUNT_NAME`,
//! `AZURE_STORAGE_ACCOUNT_KEY`, …). Out: blocking readers and writers
//! ([`ObjectReader`]: `Read + Seek` by ranged GETs of [`READ_BLOCK_BYTES`];
//! [`ObjectWriter`]: `Write` by multipart upload in parts of
//! [`PART_BYTES`]), listings, and whole small objects.
//!
//! `object_store` is async: one small tokio runtime lives here and every call
//! blocks on it (`block_on` at the seam), so no stage, job or command sees
//! async code. Memory per open reader is one block; per writer, at most
//! [`MAX_PARTS_IN_FLIGHT`] parts. Requests are retried
//! ([`object_store::RetryConfig`]: up to 4 retries, within 20 s) and then
//! fail with an [`io::Error`] whose message names the object and never holds
//! a credential.

use std::collections::HashMap;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;

use super::aws_profile;
use object_store::path::Path as ObjPath;
use object_store::{
    BackoffConfig, ClientOptions, ObjectStore, PutPayload, RetryConfig, WriteMultipart,
};

/// Bytes fetched per ranged GET when streaming an object.
pub const READ_BLOCK_BYTES: u64 = 8 << 20;
/// Size of one multipart-upload part (S3's minimum is 5 MiB).
pub const PART_BYTES: usize = 8 << 20;
/// Parts uploaded at once per writer.
pub const MAX_PARTS_IN_FLIGHT: usize = 2;

/// Schemes callprep hands to object storage.
const SCHEMES: &[&str] = &["s3://", "az://"];

/// Settings of the object stores a command uses (from its flags).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectOptions {
    /// `--endpoint`: the URL of an S3-compatible store (plain `http://` is
    /// allowed for stores inside the perimeter and for tests).
    pub endpoint: Option<String>,
    /// `--sse-kms-key-id`: ask the store to encrypt what is written with this
    /// KMS key (SSE-KMS; with an external key store the key stays the bank's).
    pub sse_kms_key_id: Option<String>,
}

static OPTIONS: OnceLock<ObjectOptions> = OnceLock::new();
static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
type Stores = Mutex<HashMap<String, Arc<dyn ObjectStore>>>;
static STORES: OnceLock<Stores> = OnceLock::new();

/// Sets the options every object store of this process is built with. Call
/// once, before the first object is opened; later calls are ignored (the
/// first command's flags win).
pub fn configure(opts: ObjectOptions) {
    let _ = OPTIONS.set(opts);
}

/// Whether `s` names an object (`s3://…`) rather than a local path.
pub fn is_object_url(s: &str) -> bool {
    SCHEMES.iter().any(|p| s.starts_with(p))
}

/// A parsed object URL: bucket and key (or key prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectUrl {
    /// `s3`.
    pub scheme: String,
    /// The bucket.
    pub bucket: String,
    /// The key, without a leading `/` (may be empty: the whole bucket).
    pub key: String,
}

impl ObjectUrl {
    /// Parses `s3://bucket/key`.
    pub fn parse(s: &str) -> io::Result<ObjectUrl> {
        let (scheme, rest) = s
            .split_once("://")
            .filter(|(sc, _)| is_object_url(&format!("{sc}://")))
            .ok_or_else(|| {
                invalid(format!(
                    "{s}: not an object URL (use s3://bucket/prefix or az://container/prefix)"
                ))
            })?;
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(invalid(format!("{s}: the URL names no bucket")));
        }
        Ok(ObjectUrl {
            scheme: scheme.to_string(),
            bucket: bucket.to_string(),
            key: key.trim_matches('/').to_string(),
        })
    }

    /// The URL of `name` under this prefix.
    pub fn join(&self, name: &str) -> ObjectUrl {
        let key = if self.key.is_empty() {
            name.to_string()
        } else {
            format!("{}/{name}", self.key)
        };
        ObjectUrl {
            key,
            ..self.clone()
        }
    }

    fn path(&self) -> ObjPath {
        ObjPath::from(self.key.as_str())
    }
}

impl std::fmt::Display for ObjectUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}/{}", self.scheme, self.bucket, self.key)
    }
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

fn runtime() -> &'static tokio::runtime::Runtime {
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("callprep-object-io")
            .enable_all()
            .build()
            .expect("a tokio runtime starts (threads and a timer; no input involved)")
    })
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    runtime().block_on(f)
}

/// The store of `url`'s bucket (or container), built once per bucket.
fn store(url: &ObjectUrl) -> io::Result<Arc<dyn ObjectStore>> {
    let stores = STORES.get_or_init(Default::default);
    let mut stores = stores.lock().unwrap_or_else(|p| p.into_inner());
    let id = format!("{}://{}", url.scheme, url.bucket);
    if let Some(s) = stores.get(&id) {
        return Ok(s.clone());
    }
    let opts = OPTIONS.get().cloned().unwrap_or_default();
    let s: Arc<dyn ObjectStore> = match url.scheme.as_str() {
        "az" => Arc::new(
            azure(url, &opts)?
                .build()
                .map_err(|e| store_error(url, e))?,
        ),
        _ => Arc::new(s3(url, &opts)?.build().map_err(|e| store_error(url, e))?),
    };
    stores.insert(id, s.clone());
    Ok(s)
}

fn env(k: &str) -> Option<String> {
    std::env::var(k).ok().filter(|v| !v.is_empty())
}

/// Retries of every store: up to 4, backing off from 100 ms, within 20 s.
fn retry() -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(4),
            base: 2.0,
        },
        max_retries: 4,
        retry_timeout: Duration::from_secs(20),
    }
}

/// HTTP settings of every store; plain `http://` only when the endpoint
/// asks for it.
fn client(endpoint: Option<&str>) -> ClientOptions {
    ClientOptions::new()
        .with_connect_timeout(Duration::from_secs(10))
        .with_timeout(Duration::from_secs(120))
        .with_allow_http(endpoint.is_some_and(|e| e.starts_with("http://")))
}

/// An S3 bucket: the AWS environment, else the profile ([`aws_profile`]).
fn s3(url: &ObjectUrl, opts: &ObjectOptions) -> io::Result<AmazonS3Builder> {
    // Callers name the object; this error names the profile and its files.
    let profile = profile()?;
    let endpoint = opts
        .endpoint
        .clone()
        .or_else(|| env("AWS_ENDPOINT_URL"))
        .or_else(|| profile.and_then(|p| p.endpoint_url.clone()));
    let mut b = AmazonS3Builder::from_env()
        .with_bucket_name(&url.bucket)
        .with_retry(retry())
        .with_client_options(client(endpoint.as_deref()));
    // Keys in the environment beat the profile's (as the AWS CLI has it).
    if let Some(p) = profile.filter(|_| env("AWS_ACCESS_KEY_ID").is_none()) {
        if let (Some(k), Some(s)) = (&p.access_key_id, &p.secret_access_key) {
            b = b.with_access_key_id(k).with_secret_access_key(s);
            if let Some(t) = &p.session_token {
                b = b.with_token(t);
            }
        }
    }
    if let Some(e) = endpoint {
        b = b.with_endpoint(e).with_virtual_hosted_style_request(false);
    }
    if env("AWS_REGION").is_none() && env("AWS_DEFAULT_REGION").is_none() {
        let region = profile.and_then(|p| p.region.as_deref());
        b = b.with_region(region.unwrap_or("us-east-1"));
    }
    if let Some(k) = &opts.sse_kms_key_id {
        b = b.with_sse_kms_encryption(k);
    }
    Ok(b)
}

/// An Azure Blob Storage container (`az://CONTAINER/prefix`): the account
/// and its credentials from the standard Azure environment
/// (`AZURE_STORAGE_ACCOUNT_NAME` with `AZURE_STORAGE_ACCOUNT_KEY`,
/// `AZURE_STORAGE_SAS_KEY`, a service principal, workload or managed
/// identity); `--endpoint` is the account's URL on Azure Stack or Azurite.
fn azure(url: &ObjectUrl, opts: &ObjectOptions) -> io::Result<MicrosoftAzureBuilder> {
    if env("AZURE_STORAGE_ACCOUNT_NAME").is_none() && env("AZURE_STORAGE_USE_EMULATOR").is_none() {
        return Err(invalid(
            "no storage account: set AZURE_STORAGE_ACCOUNT_NAME (and AZURE_STORAGE_ACCOUNT_KEY or AZURE_STORAGE_SAS_KEY)"
                .to_string(),
        ));
    }
    let endpoint = opts
        .endpoint
        .clone()
        .or_else(|| env("AZURE_STORAGE_ENDPOINT"));
    let mut b = MicrosoftAzureBuilder::from_env()
        .with_container_name(&url.bucket)
        .with_retry(retry())
        .with_client_options(client(endpoint.as_deref()));
    if let Some(e) = endpoint {
        b = b.with_endpoint(e);
    }
    Ok(b)
}

/// The AWS profile of this process's environment ([`aws_profile::load`]),
/// read once.
fn profile() -> io::Result<Option<&'static aws_profile::Profile>> {
    static PROFILE: OnceLock<Result<Option<aws_profile::Profile>, (io::ErrorKind, String)>> =
        OnceLock::new();
    match PROFILE.get_or_init(|| aws_profile::load().map_err(|e| (e.kind(), e.to_string()))) {
        Ok(p) => Ok(p.as_ref()),
        Err((kind, msg)) => Err(io::Error::new(*kind, msg.clone())),
    }
}

/// An `object_store` error as an `io::Error` naming the object. The crate's
/// messages carry the request and the store's answer, never the secret key.
fn store_error(url: &ObjectUrl, e: object_store::Error) -> io::Error {
    let kind = match e {
        object_store::Error::NotFound { .. } => io::ErrorKind::NotFound,
        object_store::Error::PermissionDenied { .. }
        | object_store::Error::Unauthenticated { .. } => io::ErrorKind::PermissionDenied,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, format!("{url}: {e}"))
}

/// The size of an object, or `None` when there is none.
pub fn size(url: &ObjectUrl) -> io::Result<Option<u64>> {
    let s = store(url)?;
    match block_on(s.head(&url.path())) {
        Ok(m) => Ok(Some(m.size)),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(store_error(url, e)),
    }
}

/// Every object under `url` (as a prefix: `s3://b/calls` lists
/// `calls/…`), or the object itself; sorted by key.
pub fn list(url: &ObjectUrl) -> io::Result<Vec<ObjectUrl>> {
    let s = store(url)?;
    let prefix = (!url.key.is_empty()).then(|| url.path());
    let mut keys: Vec<String> = block_on(
        s.list(prefix.as_ref())
            .map_ok(|m| m.location.to_string())
            .try_collect::<Vec<_>>(),
    )
    .map_err(|e| store_error(url, e))?;
    if keys.is_empty() && !url.key.is_empty() && size(url)?.is_some() {
        keys.push(url.key.clone());
    }
    keys.sort();
    Ok(keys
        .into_iter()
        .map(|key| ObjectUrl { key, ..url.clone() })
        .collect())
}

/// The `.wav` objects under the given `s3://` inputs, as
/// [`crate::input::Listed`] entries: each named relative to the prefix it
/// was found under (an URL naming one object: its file name). A store that
/// cannot be listed (unreachable, refused credentials) is an environment
/// error naming the URL.
pub fn list_inputs(urls: &[std::path::PathBuf]) -> anyhow::Result<Vec<crate::input::Listed>> {
    let mut out = Vec::new();
    for p in urls {
        let given = p.to_string_lossy().into_owned();
        let url = ObjectUrl::parse(&given).map_err(|e| crate::config::UsageError(e.to_string()))?;
        let objects =
            list(&url).map_err(|e| crate::engine::EnvError(format!("cannot list {given}: {e}")))?;
        for o in objects {
            let rel = if o.key == url.key {
                o.key.rsplit('/').next().unwrap_or(&o.key).to_string()
            } else {
                o.key[url.key.len()..].trim_start_matches('/').to_string()
            };
            if crate::input::is_wav(std::path::Path::new(&rel)) {
                let s = o.to_string();
                out.push((
                    std::path::PathBuf::from(&s),
                    s,
                    std::path::PathBuf::from(rel),
                ));
            }
        }
    }
    Ok(out)
}

/// Reads a whole (small) object; `None` when there is none.
pub fn read_all(url: &ObjectUrl) -> io::Result<Option<Vec<u8>>> {
    let s = store(url)?;
    let got = block_on(async { s.get(&url.path()).await?.bytes().await });
    match got {
        Ok(b) => Ok(Some(b.to_vec())),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(store_error(url, e)),
    }
}

/// Writes a whole (small) object in one PUT (atomic on S3: readers see the
/// old or the new object).
pub fn write_all(url: &ObjectUrl, bytes: Vec<u8>) -> io::Result<()> {
    let s = store(url)?;
    block_on(s.put(&url.path(), PutPayload::from(bytes)))
        .map(|_| ())
        .map_err(|e| store_error(url, e))
}

/// Opens an object for streaming reads.
pub fn open(url: &ObjectUrl) -> io::Result<ObjectReader> {
    let s = store(url)?;
    let len = block_on(s.head(&url.path()))
        .map_err(|e| store_error(url, e))?
        .size;
    Ok(ObjectReader {
        store: s,
        url: url.clone(),
        len,
        pos: 0,
        block: Vec::new(),
        block_start: 0,
    })
}

/// An object read in blocks of [`READ_BLOCK_BYTES`] by ranged GETs: `Read +
/// Seek`, one block in memory.
pub struct ObjectReader {
    store: Arc<dyn ObjectStore>,
    url: ObjectUrl,
    len: u64,
    pos: u64,
    block: Vec<u8>,
    block_start: u64,
}

impl std::fmt::Debug for ObjectReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectReader")
            .field("url", &self.url.to_string())
            .field("len", &self.len)
            .field("pos", &self.pos)
            .finish()
    }
}

impl ObjectReader {
    /// The object's length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the object is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn fetch(&mut self, range: Range<u64>) -> io::Result<()> {
        let bytes = block_on(self.store.get_range(&self.url.path(), range.clone()))
            .map_err(|e| store_error(&self.url, e))?;
        if bytes.len() as u64 != range.end - range.start {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "{}: asked for bytes {}..{}, got {}",
                    self.url,
                    range.start,
                    range.end,
                    bytes.len()
                ),
            ));
        }
        self.block = bytes.to_vec();
        self.block_start = range.start;
        Ok(())
    }
}

impl Read for ObjectReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.len || buf.is_empty() {
            return Ok(0);
        }
        let in_block =
            self.pos >= self.block_start && self.pos < self.block_start + self.block.len() as u64;
        if !in_block {
            let end = (self.pos + READ_BLOCK_BYTES).min(self.len);
            self.fetch(self.pos..end)?;
        }
        let at = (self.pos - self.block_start) as usize;
        let n = buf.len().min(self.block.len() - at);
        buf[..n].copy_from_slice(&self.block[at..at + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for ObjectReader {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let to = match pos {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = to.ok_or_else(|| invalid(format!("{}: seek before the start", self.url)))?;
        Ok(self.pos)
    }
}

/// An object written by multipart upload: parts of [`PART_BYTES`] go up
/// while the caller writes, at most [`MAX_PARTS_IN_FLIGHT`] at once. Nothing
/// appears under the key until [`ObjectWriter::finish`]; a writer dropped
/// without it aborts the upload.
pub struct ObjectWriter {
    url: ObjectUrl,
    upload: Option<WriteMultipart>,
}

/// Starts a multipart upload to `url`.
pub fn create(url: &ObjectUrl) -> io::Result<ObjectWriter> {
    let s = store(url)?;
    let up = block_on(s.put_multipart(&url.path())).map_err(|e| store_error(url, e))?;
    Ok(ObjectWriter {
        url: url.clone(),
        upload: Some(WriteMultipart::new_with_chunk_size(up, PART_BYTES)),
    })
}

impl ObjectWriter {
    /// Uploads the last part and completes the upload: the object appears.
    pub fn finish(mut self) -> io::Result<()> {
        let up = self.upload.take().expect("finish consumes the writer");
        block_on(up.finish())
            .map(|_| ())
            .map_err(|e| store_error(&self.url, e))
    }
}

impl Write for ObjectWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let url = &self.url;
        let up = self.upload.as_mut().expect("not finished");
        let _rt = runtime().enter();
        block_on(up.wait_for_capacity(MAX_PARTS_IN_FLIGHT)).map_err(|e| store_error(url, e))?;
        up.write(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for ObjectWriter {
    fn drop(&mut self) {
        if let Some(up) = self.upload.take() {
            // Best effort: the store also expires abandoned uploads.
            let _ = block_on(up.abort());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_and_join() {
        let u = ObjectUrl::parse("s3://bank-calls/2026/12/").unwrap();
        assert_eq!(
            (u.bucket.as_str(), u.key.as_str()),
            ("bank-calls", "2026/12")
        );
        assert_eq!(
            u.join("shard-000000.tar").to_string(),
            "s3://bank-calls/2026/12/shard-000000.tar"
        );
        let root = ObjectUrl::parse("s3://b").unwrap();
        assert_eq!(root.key, "");
        assert_eq!(root.join("index.json").to_string(), "s3://b/index.json");
        assert!(ObjectUrl::parse("s3:///x").is_err());
        assert!(ObjectUrl::parse("/tmp/x").is_err());
        assert!(is_object_url("s3://b/k") && !is_object_url("calls/s3://x"));
    }
}
