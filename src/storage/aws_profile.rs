//! The AWS shared config and credentials files (`~/.aws/credentials`,
//! `~/.aws/config`): the profile an `s3://` URL is opened with when the
//! environment does not say everything itself.
//!
//! In: the environment (`AWS_PROFILE` or `AWS_DEFAULT_PROFILE`, else
//! `default`; `AWS_SHARED_CREDENTIALS_FILE`, `AWS_CONFIG_FILE`, `HOME`) and
//! the two files. Out: a [`Profile`] — static keys (`aws_access_key_id`,
//! `aws_secret_access_key`, `aws_session_token`), `region`, `endpoint_url` —
//! read the way the AWS CLI reads them: a `[NAME]` section of the credentials
//! file, a `[profile NAME]` (or `[default]`) section of the config file, the
//! credentials file first, key names in any case, nested settings (`s3 =`
//! followed by indented lines) ignored.
//!
//! Precedence (the AWS CLI's): keys in the environment beat the profile's;
//! `AWS_REGION`/`AWS_DEFAULT_REGION` beat its `region`; `--endpoint` and
//! `AWS_ENDPOINT_URL` beat its `endpoint_url`. A profile that gets its
//! credentials by running something (`role_arn`, `credential_process`, SSO)
//! is refused with the command that exports its keys: callprep does not
//! assume roles or run processes. Errors name the file and the profile and
//! never hold a key.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

use configparser::ini::{Ini, IniDefault};

/// What one profile of the shared files says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    /// The profile's name.
    pub name: String,
    /// `aws_access_key_id`.
    pub access_key_id: Option<String>,
    /// `aws_secret_access_key`.
    pub secret_access_key: Option<String>,
    /// `aws_session_token` (or the older `aws_security_token`).
    pub session_token: Option<String>,
    /// `region`.
    pub region: Option<String>,
    /// `endpoint_url`.
    pub endpoint_url: Option<String>,
}

/// Settings that mean "credentials come from somewhere else".
const INDIRECT: &[&str] = &[
    "role_arn",
    "credential_process",
    "sso_session",
    "sso_start_url",
    "web_identity_token_file",
    "credential_source",
];

/// One parsed file: its path and its sections (empty when it is missing).
struct File {
    path: PathBuf,
    sections: HashMap<String, HashMap<String, Option<String>>>,
}

impl File {
    /// Reads and parses `path`; a missing file is an empty one.
    fn read(path: PathBuf) -> io::Result<File> {
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("cannot read the AWS file {}: {e}", path.display()),
                ))
            }
        };
        let mut d = IniDefault::default();
        // As botocore's RawConfigParser: section names keep their case, no
        // inline comments (a value is everything after the first `=`),
        // indented lines continue the setting above (nested `s3 =` blocks).
        d.case_sensitive = true;
        d.enable_inline_comments = false;
        d.delimiters = vec!['='];
        d.multiline = true;
        // Lines before any section go to a name no profile can have.
        d.default_section = "\0".into();
        // The parser's messages carry a line number and what is wrong, never
        // the line's text (which may be a key).
        let sections = Ini::new_from_defaults(d).read(text).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the AWS file {} is malformed: {e}", path.display()),
            )
        })?;
        Ok(File { path, sections })
    }

    /// The setting `key` (any case) of `section`, when it has a value.
    fn get(&self, section: &str, key: &str) -> Option<String> {
        let s = self.sections.get(section)?;
        s.iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(key))
            .find_map(|(_, v)| v.clone())
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    fn has(&self, section: &str) -> bool {
        self.sections.contains_key(section)
    }
}

/// The profile the environment names, read from the shared files.
///
/// `Ok(None)`: no profile applies (the `default` profile, not asked for by
/// name, is in neither file). An error: a file cannot be read or parsed, the
/// profile asked for by name is missing, or it cannot give keys
/// callprep can use while the environment gives none.
pub fn load() -> io::Result<Option<Profile>> {
    load_from(&|k| std::env::var(k).ok())
}

/// [`load`] with the environment as a function (for the unit tests).
pub(crate) fn load_from(env: &dyn Fn(&str) -> Option<String>) -> io::Result<Option<Profile>> {
    let named = env("AWS_PROFILE")
        .or_else(|| env("AWS_DEFAULT_PROFILE"))
        .filter(|s| !s.is_empty());
    let name = named.clone().unwrap_or_else(|| "default".to_string());
    let home = env("HOME").map(PathBuf::from);
    let file = |var: &str, leaf: &str| -> Option<PathBuf> {
        env(var)
            .filter(|s| !s.is_empty())
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(".aws").join(leaf)))
    };
    let creds = match file("AWS_SHARED_CREDENTIALS_FILE", "credentials") {
        Some(p) => Some(File::read(p)?),
        None => None,
    };
    let config = match file("AWS_CONFIG_FILE", "config") {
        Some(p) => Some(File::read(p)?),
        None => None,
    };
    let config_section = if name == "default" && config.as_ref().is_some_and(|c| c.has("default")) {
        "default".to_string()
    } else {
        format!("profile {name}")
    };
    let in_creds = creds.as_ref().is_some_and(|f| f.has(&name));
    let in_config = config.as_ref().is_some_and(|f| f.has(&config_section));
    if !in_creds && !in_config {
        return match named {
            None => Ok(None),
            Some(_) => Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "the AWS profile {name:?} (AWS_PROFILE) is in neither {} nor {}",
                    shown(creds.as_ref().map(|f| f.path.as_path())),
                    shown(config.as_ref().map(|f| f.path.as_path()))
                ),
            )),
        };
    }
    // A setting: the credentials file's section first, then the config's.
    let get = |key: &str| -> Option<String> {
        creds
            .as_ref()
            .and_then(|f| f.get(&name, key))
            .or_else(|| config.as_ref().and_then(|f| f.get(&config_section, key)))
    };
    let p = Profile {
        name: name.clone(),
        access_key_id: get("aws_access_key_id"),
        secret_access_key: get("aws_secret_access_key"),
        session_token: get("aws_session_token").or_else(|| get("aws_security_token")),
        region: get("region"),
        endpoint_url: get("endpoint_url"),
    };
    let env_has_keys = env("AWS_ACCESS_KEY_ID").is_some_and(|s| !s.is_empty());
    if env_has_keys {
        return Ok(Some(p));
    }
    let where_ = || {
        let mut w = Vec::new();
        if in_creds {
            w.push(format!(
                "[{name}] of {}",
                shown(creds.as_ref().map(|f| f.path.as_path()))
            ));
        }
        if in_config {
            w.push(format!(
                "[{config_section}] of {}",
                shown(config.as_ref().map(|f| f.path.as_path()))
            ));
        }
        w.join(" and ")
    };
    match (&p.access_key_id, &p.secret_access_key) {
        (Some(_), Some(_)) => Ok(Some(p)),
        (Some(_), None) | (None, Some(_)) => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "the AWS profile {name:?} ({}) has only one of aws_access_key_id and aws_secret_access_key",
                where_()
            ),
        )),
        (None, None) => match INDIRECT.iter().find(|k| get(k).is_some()) {
            // Asked for by name, it must give keys; the implicit default
            // profile may leave them to the rest of the chain (web
            // identity, container or instance credentials).
            Some(how) if named.is_some() => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!(
                    "the AWS profile {name:?} ({}) gets its credentials through {how}, which callprep does not run; export its keys first: eval \"$(aws configure export-credentials --profile {name} --format env)\"",
                    where_()
                ),
            )),
            _ => Ok(Some(p)),
        },
    }
}

fn shown(p: Option<&Path>) -> String {
    p.map_or_else(
        || "~/.aws (HOME is not set)".to_string(),
        |p| p.display().to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &[(&str, String)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        move |k| m.get(k).cloned()
    }

    fn files(creds: &str, config: &str) -> (tempfile::TempDir, Vec<(&'static str, String)>) {
        let d = tempfile::tempdir().unwrap();
        let c = d.path().join("credentials");
        let g = d.path().join("config");
        std::fs::write(&c, creds).unwrap();
        std::fs::write(&g, config).unwrap();
        let env = vec![
            ("AWS_SHARED_CREDENTIALS_FILE", c.display().to_string()),
            ("AWS_CONFIG_FILE", g.display().to_string()),
        ];
        (d, env)
    }

    const CREDS: &str = "\
# keys
[default]
aws_access_key_id = AKDEFAULT
aws_secret_access_key = sdefault/with+slash=

[bank-inside]
AWS_Access_Key_Id=AKINSIDE
aws_secret_access_key=s#inside;not-a-comment
aws_session_token = tok
";
    const CONFIG: &str = "\
[default]
region = eu-central-1

[profile bank-inside]
region = eu-west-1
endpoint_url = http://127.0.0.1:9000
s3 =
    addressing_style = path

[profile assumed]
role_arn = arn:aws:iam::123:role/x
source_profile = default

[profile half]
aws_access_key_id = AKHALF
";

    #[test]
    fn the_default_profile_joins_both_files() {
        let (_d, env) = files(CREDS, CONFIG);
        let p = load_from(&env_of(&env)).unwrap().unwrap();
        assert_eq!(p.name, "default");
        assert_eq!(p.access_key_id.as_deref(), Some("AKDEFAULT"));
        assert_eq!(p.secret_access_key.as_deref(), Some("sdefault/with+slash="));
        assert_eq!(p.session_token, None);
        assert_eq!(p.region.as_deref(), Some("eu-central-1"));
        assert_eq!(p.endpoint_url, None);
    }

    #[test]
    fn a_named_profile_reads_like_the_aws_cli() {
        let (_d, mut env) = files(CREDS, CONFIG);
        env.push(("AWS_PROFILE", "bank-inside".into()));
        let p = load_from(&env_of(&env)).unwrap().unwrap();
        assert_eq!(
            p.access_key_id.as_deref(),
            Some("AKINSIDE"),
            "key names in any case"
        );
        assert_eq!(
            p.secret_access_key.as_deref(),
            Some("s#inside;not-a-comment"),
            "no inline comments"
        );
        assert_eq!(p.session_token.as_deref(), Some("tok"));
        assert_eq!(p.region.as_deref(), Some("eu-west-1"));
        assert_eq!(p.endpoint_url.as_deref(), Some("http://127.0.0.1:9000"));
        // AWS_DEFAULT_PROFILE is the older name of the same setting.
        let (_d, mut env) = files(CREDS, CONFIG);
        env.push(("AWS_DEFAULT_PROFILE", "bank-inside".into()));
        let q = load_from(&env_of(&env)).unwrap().unwrap();
        assert_eq!(q, p);
    }

    #[test]
    fn no_files_and_no_name_is_no_profile() {
        let d = tempfile::tempdir().unwrap();
        let env = vec![("HOME", d.path().display().to_string())];
        assert_eq!(load_from(&env_of(&env)).unwrap(), None);
        // HOME/.aws/credentials is where the files are looked for.
        std::fs::create_dir(d.path().join(".aws")).unwrap();
        std::fs::write(d.path().join(".aws/credentials"), CREDS).unwrap();
        let p = load_from(&env_of(&env)).unwrap().unwrap();
        assert_eq!(p.access_key_id.as_deref(), Some("AKDEFAULT"));
    }

    #[test]
    fn what_cannot_be_used_is_refused_by_name_without_the_keys() {
        let (_d, env) = files(CREDS, CONFIG);
        let with = |name: &str| {
            let mut e = env.clone();
            e.push(("AWS_PROFILE", name.to_string()));
            load_from(&env_of(&e)).unwrap_err().to_string()
        };
        let missing = with("nope");
        assert!(
            missing.contains("\"nope\"")
                && missing.contains("credentials")
                && missing.contains("config"),
            "{missing}"
        );
        let assumed = with("assumed");
        assert!(
            assumed.contains("role_arn")
                && assumed.contains("export-credentials --profile assumed"),
            "{assumed}"
        );
        let half = with("half");
        assert!(half.contains("only one of"), "{half}");
        assert!(!half.contains("AKHALF"), "{half}");
        // Keys in the environment win: the profile's way of getting its own
        // does not matter then.
        let mut e = env.clone();
        e.push(("AWS_PROFILE", "assumed".into()));
        e.push(("AWS_ACCESS_KEY_ID", "AKENV".into()));
        assert!(load_from(&env_of(&e)).is_ok());
    }

    #[test]
    fn a_malformed_file_is_named_and_its_text_is_not_shown() {
        let (_d, env) = files("[default\naws_secret_access_key = SECRETVALUE\n", "");
        let e = load_from(&env_of(&env)).unwrap_err().to_string();
        assert!(
            e.contains("credentials is malformed") && e.contains("line 1"),
            "{e}"
        );
        assert!(!e.contains("SECRETVALUE"), "{e}");
    }
}
