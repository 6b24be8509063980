//! `--shard K/N`: one job split across N machines (a Slurm array, a
//! Kubernetes Indexed Job), each doing a fixed part of the inputs.
//!
//! In: the text of `--shard` (`K/N`, or `auto/N` with K read from
//! `JOB_COMPLETION_INDEX`, then `SLURM_ARRAY_TASK_ID`) and a command's
//! discovered items (sorted by id, de-duplicated). Out: the items of shard K:
//! those whose key (the input's id) hashes to K under a fixed FNV-1a 64 hash
//! modulo N. The hash depends on the id alone, so adding an input moves only
//! that input, and every machine computes the same partition without talking
//! to the others. The shard goes into `report.json` (`shard: {k, n,
//! inputs_total}`), never into the parameters: the shards of one job share
//! their parameter hash, which `callprep merge` checks.

use serde::{Deserialize, Serialize};

/// Environment variables `--shard auto/N` reads K from, in this order.
pub const INDEX_VARS: [&str; 2] = ["JOB_COMPLETION_INDEX", "SLURM_ARRAY_TASK_ID"];

/// Shard `k` of `n` (`0 <= k < n`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// This shard's index, `0..n`.
    pub k: u32,
    /// Number of shards.
    pub n: u32,
}

/// Why a `--shard` value was refused (a usage error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    /// Not `K/N` or `auto/N`.
    #[error("--shard {0:?} is not K/N or auto/N; e.g. --shard 0/4 (shards are numbered 0..N-1)")]
    Malformed(String),
    /// `N` is 0.
    #[error("--shard {0:?}: N must be at least 1")]
    NoShards(String),
    /// `K >= N`.
    #[error("--shard {text:?}: K {k} is not below N {n}; shards are numbered 0..{last}{hint}", last = n - 1)]
    OutOfRange {
        /// The value as given (or as read from the environment).
        text: String,
        /// K.
        k: u64,
        /// N.
        n: u32,
        /// What to change with `auto`.
        hint: String,
    },
    /// `auto/N` without an index in the environment.
    #[error(
        "--shard auto/{0}: neither JOB_COMPLETION_INDEX (Kubernetes Indexed Job) nor \
         SLURM_ARRAY_TASK_ID (Slurm job array) is set; run it as an array task or give K, e.g. --shard 0/{0}"
    )]
    NoIndex(u32),
    /// `auto/N` with an index that is not a number.
    #[error("--shard auto/{n}: {var}={value:?} is not a shard index (a whole number 0..{last})", last = n - 1)]
    BadIndex {
        /// The variable read.
        var: &'static str,
        /// Its value.
        value: String,
        /// N.
        n: u32,
    },
}

impl Shard {
    /// Parses `K/N` or `auto/N`; `env` looks up an environment variable
    /// (`std::env::var(..).ok()` in the binary).
    pub fn parse(text: &str, env: impl Fn(&str) -> Option<String>) -> Result<Shard, ShardError> {
        let malformed = || ShardError::Malformed(text.to_string());
        let (k_text, n_text) = text.trim().split_once('/').ok_or_else(malformed)?;
        let n: u32 = n_text.trim().parse().map_err(|_| malformed())?;
        if n == 0 {
            return Err(ShardError::NoShards(text.to_string()));
        }
        let k_text = k_text.trim();
        let (k, hint): (u64, String) = if k_text.eq_ignore_ascii_case("auto") {
            let (var, value) = INDEX_VARS
                .iter()
                .find_map(|v| env(v).filter(|s| !s.trim().is_empty()).map(|s| (*v, s)))
                .ok_or(ShardError::NoIndex(n))?;
            let k = value.trim().parse().map_err(|_| ShardError::BadIndex {
                var,
                value: value.clone(),
                n,
            })?;
            let hint = format!(
                " ({var}={value}; a Slurm array must be --array=0-{}, an Indexed Job completions: {n})",
                n - 1
            );
            (k, hint)
        } else {
            (k_text.parse().map_err(|_| malformed())?, String::new())
        };
        if k >= u64::from(n) {
            return Err(ShardError::OutOfRange {
                text: text.to_string(),
                k,
                n,
                hint,
            });
        }
        Ok(Shard { k: k as u32, n })
    }

    /// Whether the item with this key belongs to this shard.
    pub fn keeps(&self, key: &str) -> bool {
        fnv1a64(key.as_bytes()) % u64::from(self.n) == u64::from(self.k)
    }
}

/// What `report.json` records of a shard's run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardReport {
    /// This shard's index.
    pub k: u32,
    /// Number of shards.
    pub n: u32,
    /// Items of the whole job (before the partition): every shard of one
    /// job must see the same number, and theirs must add up to it.
    pub inputs_total: usize,
}

/// The part of `items` (sorted, de-duplicated) that shard `shard` does:
/// all of them without a shard. `key` is an item's stable id. Returns the
/// kept items, in their order, and what the report records.
pub fn select<T>(
    items: Vec<T>,
    shard: Option<Shard>,
    key: impl Fn(&T) -> &str,
) -> (Vec<T>, Option<ShardReport>) {
    let Some(s) = shard else {
        return (items, None);
    };
    let inputs_total = items.len();
    let kept = items.into_iter().filter(|i| s.keeps(key(i))).collect();
    let report = ShardReport {
        k: s.k,
        n: s.n,
        inputs_total,
    };
    (kept, Some(report))
}

/// Paths that could not be inputs are reported once, by shard 0 (so the
/// merged report lists each once, where a one-machine run does).
pub fn select_rejected<T>(rejected: Vec<T>, shard: Option<Shard>) -> Vec<T> {
    match shard {
        Some(s) if s.k != 0 => Vec::new(),
        _ => rejected,
    }
}

/// FNV-1a, 64 bits: a fixed hash (unlike std's `DefaultHasher`, the same
/// on every machine, build and version).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn fnv1a64_matches_the_reference_vectors() {
        // From the FNV reference (draft-eastlake-fnv): "", "a", "foobar".
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn parses_k_of_n_and_refuses_the_impossible() {
        assert_eq!(Shard::parse("2/4", no_env), Ok(Shard { k: 2, n: 4 }));
        assert_eq!(Shard::parse("0/1", no_env), Ok(Shard { k: 0, n: 1 }));
        for bad in ["", "3", "a/4", "1/b", "-1/4", "1/4/2", "1.0/4"] {
            assert_eq!(
                Shard::parse(bad, no_env),
                Err(ShardError::Malformed(bad.into())),
                "{bad}"
            );
        }
        assert_eq!(
            Shard::parse("0/0", no_env),
            Err(ShardError::NoShards("0/0".into()))
        );
        let e = Shard::parse("4/4", no_env).unwrap_err().to_string();
        assert!(
            e.contains("K 4 is not below N 4") && e.contains("0..3"),
            "{e}"
        );
    }

    #[test]
    fn auto_reads_kubernetes_then_slurm() {
        let both = |v: &str| match v {
            "JOB_COMPLETION_INDEX" => Some("1".to_string()),
            "SLURM_ARRAY_TASK_ID" => Some("3".to_string()),
            _ => None,
        };
        assert_eq!(Shard::parse("auto/4", both), Ok(Shard { k: 1, n: 4 }));
        let slurm = |v: &str| (v == "SLURM_ARRAY_TASK_ID").then(|| "3".to_string());
        assert_eq!(Shard::parse("auto/4", slurm), Ok(Shard { k: 3, n: 4 }));
        let e = Shard::parse("auto/4", no_env).unwrap_err().to_string();
        assert!(
            e.contains("JOB_COMPLETION_INDEX") && e.contains("SLURM_ARRAY_TASK_ID"),
            "{e}"
        );
        let one_based = |v: &str| (v == "SLURM_ARRAY_TASK_ID").then(|| "4".to_string());
        let e = Shard::parse("auto/4", one_based).unwrap_err().to_string();
        assert!(e.contains("--array=0-3"), "{e}");
        let junk = |v: &str| (v == "JOB_COMPLETION_INDEX").then(|| "x".to_string());
        assert_eq!(
            Shard::parse("auto/4", junk),
            Err(ShardError::BadIndex {
                var: "JOB_COMPLETION_INDEX",
                value: "x".into(),
                n: 4
            })
        );
    }

    #[test]
    fn every_split_covers_each_item_exactly_once() {
        let ids: Vec<String> = (0..500)
            .map(|i| format!("dir{}/call{i:04}", i % 7))
            .collect();
        for n in 1..=9u32 {
            let mut seen = vec![0u32; ids.len()];
            let mut total = 0;
            for k in 0..n {
                let items: Vec<(usize, &String)> = ids.iter().enumerate().collect();
                let (kept, rep) = select(items, Some(Shard { k, n }), |(_, id)| id.as_str());
                let rep = rep.unwrap();
                assert_eq!((rep.k, rep.n, rep.inputs_total), (k, n, ids.len()));
                // Kept items stay in their order.
                assert!(kept.windows(2).all(|w| w[0].0 < w[1].0));
                for (i, _) in &kept {
                    seen[*i] += 1;
                }
                total += kept.len();
            }
            assert_eq!(total, ids.len(), "n={n}");
            assert!(seen.iter().all(|&c| c == 1), "n={n}");
        }
        // With 4 shards of 500 ids, no shard is empty or holds most of them.
        for k in 0..4 {
            let (kept, _) = select(ids.clone(), Some(Shard { k, n: 4 }), |s| s.as_str());
            assert!(
                (75..=175).contains(&kept.len()),
                "shard {k}: {}",
                kept.len()
            );
        }
    }

    #[test]
    fn adding_an_input_moves_only_that_input() {
        let ids: Vec<String> = (0..200).map(|i| format!("call{i:03}")).collect();
        let mut more = ids.clone();
        more.insert(17, "call016b".into());
        for k in 0..5 {
            let s = Some(Shard { k, n: 5 });
            let (before, _) = select(ids.clone(), s, |x| x.as_str());
            let (after, _) = select(more.clone(), s, |x| x.as_str());
            let after_old: Vec<&String> = after.iter().filter(|x| *x != "call016b").collect();
            assert_eq!(after_old, before.iter().collect::<Vec<_>>(), "shard {k}");
        }
    }

    #[test]
    fn rejected_paths_go_to_shard_zero_only() {
        let r = vec!["missing.wav"];
        assert_eq!(select_rejected(r.clone(), None), r);
        assert_eq!(select_rejected(r.clone(), Some(Shard { k: 0, n: 3 })), r);
        assert!(select_rejected(r, Some(Shard { k: 2, n: 3 })).is_empty());
    }
}
