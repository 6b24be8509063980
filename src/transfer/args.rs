//! `pack`, `verify`, `unpack`: raw arguments ([`crate::cli`]) → a validated
//! [`Config`] carrying a [`TransferConfig`]. Recipients are parsed here, so
//! a bad key is a usage error before anything is read or written.

use std::path::PathBuf;

use callprep_isa::Isa;

use super::plan::ShardSize;
use super::{crypt, PackConfig, TransferConfig, UnpackConfig, VerifyConfig};
use crate::cli::{PackArgs, UnpackArgs, VerifyArgs};
use crate::config::{Config, Job, UsageError};
use crate::storage::object::ObjectOptions;

/// `callprep pack`'s configuration.
pub fn pack(a: PackArgs) -> Result<Config, UsageError> {
    let shard_size = ShardSize::parse(&a.shard_size).map_err(UsageError)?;
    let mut recipients = Vec::new();
    for r in &a.encrypt_to {
        crypt::parse_recipient(r).map_err(|e| UsageError(format!("--encrypt-to: {e}")))?;
        recipients.push(r.trim().to_string());
    }
    if let Some(f) = &a.recipients_file {
        for r in crypt::read_recipients_file(f).map_err(UsageError)? {
            recipients.push(r.text);
        }
    }
    let manifest = if a.source.is_dir() {
        a.source.join("manifest.jsonl")
    } else {
        a.source.clone()
    };
    if a.source.is_dir() && !manifest.is_file() {
        return Err(UsageError(format!(
            "{} has no manifest.jsonl: give the output folder of `mel` or `run`, or a manifest file",
            a.source.display()
        )));
    }
    let cfg = TransferConfig::Pack(PackConfig {
        manifest,
        dest: a.output.clone(),
        shard_size,
        with_audio: a.with_audio,
        recipients,
        resume: a.resume,
    });
    if a.sse_kms_key_id.is_some() && !a.output.starts_with("s3://") {
        return Err(UsageError(format!(
            "--sse-kms-key-id asks an S3 store to encrypt with a KMS key; {} is not s3://",
            a.output
        )));
    }
    let object = ObjectOptions {
        endpoint: a.store.endpoint,
        sse_kms_key_id: a.sse_kms_key_id,
    };
    base(
        Job::Pack,
        cfg,
        object,
        a.quiet,
        a.resume,
        PathBuf::from(a.output),
    )
}

/// `callprep verify`'s configuration.
pub fn verify(a: VerifyArgs) -> Result<Config, UsageError> {
    let cfg = TransferConfig::Verify(VerifyConfig {
        dest: a.dest.clone(),
    });
    let object = ObjectOptions {
        endpoint: a.store.endpoint,
        sse_kms_key_id: None,
    };
    base(
        Job::Verify,
        cfg,
        object,
        a.quiet,
        false,
        PathBuf::from(a.dest),
    )
}

/// `callprep unpack`'s configuration.
pub fn unpack(a: UnpackArgs) -> Result<Config, UsageError> {
    let cfg = TransferConfig::Unpack(UnpackConfig {
        dest: a.dest,
        out_dir: a.output.clone(),
        identity: a.identity,
    });
    let object = ObjectOptions {
        endpoint: a.store.endpoint,
        sse_kms_key_id: None,
    };
    base(Job::Unpack, cfg, object, a.quiet, false, a.output)
}

/// The common fields; those of the other commands stay empty.
fn base(
    job: Job,
    transfer: TransferConfig,
    object: ObjectOptions,
    quiet: bool,
    resume: bool,
    out_dir: PathBuf,
) -> Result<Config, UsageError> {
    Ok(Config {
        job,
        inputs: Vec::new(),
        files_from: None,
        out_dir,
        threads: 1,
        quiet,
        resume,
        timings: false,
        strict: false,
        absolute_paths: false,
        write_wav: false,
        segment: None,
        mel: None,
        print_config: false,
        isa: Isa::from_env().map_err(|e| UsageError(e.to_string()))?,
        object,
        transfer: Some(transfer),
        filter: None,
        tool: None,
        shard: None,
    })
}
