//! Kaldi data directory: `wav.scp`, `segments` (when rows point into
//! sources), `utt2spk`, `spk2utt`, `text`, `reco2dur` — the input of
//! Kaldi, ESPnet, icefall and k2 recipes.
//!
//! `text`: without `segments`, only rows with a transcript get a line, and
//! without any transcript there is no `text` (Lhotse's reader fails on a
//! line with an id alone there; `validate_data_dir.sh --no-text`). With
//! `segments`, Lhotse's reader requires `text` and accepts an id alone as
//! an empty transcript, so every utterance gets a line.
//!
//! Utterance ids start with the speaker id (`agent-call01-agent-…`, or the
//! row id itself with `--speaker-from source`), so that sorting by
//! utterance and by speaker agree, as `utils/validate_data_dir.sh`
//! demands; every file is sorted in C-locale (byte) order. Chunk WAV rows
//! are their own recordings (no `segments`); `run --no-wav` rows are
//! segments of one recording per source channel, read with
//! `sox FILE -t wav - remix N |` (N from 1). Paths are absolute.

use std::collections::BTreeMap;

use super::{file_name, Dest, ExportError, Exporter, OutData};

/// The Kaldi data directory exporter.
#[derive(Debug, Clone, Copy)]
pub struct Kaldi;

/// One utterance of the data directory.
struct Utt {
    spk: String,
    reco: String,
    start_s: f64,
    end_s: f64,
    text: String,
}

/// `s` usable as a Kaldi id (no whitespace).
fn kaldi_id(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_whitespace() { '_' } else { c })
        .collect()
}

/// Seconds as Kaldi files write them (no trailing zeros).
fn secs(s: f64) -> String {
    let t = format!("{s:.6}");
    let t = t.trim_end_matches('0').trim_end_matches('.');
    if t.is_empty() {
        "0".into()
    } else {
        t.into()
    }
}

impl Exporter for Kaldi {
    fn name(&self) -> &'static str {
        "kaldi"
    }

    fn export(&self, data: &OutData, dest: &mut Dest) -> Result<(), ExportError> {
        let mut utts: BTreeMap<String, Utt> = BTreeMap::new();
        // Recording id → (wav.scp entry, duration s).
        let mut recos: BTreeMap<String, (String, f64)> = BTreeMap::new();
        let segments = data
            .items
            .iter()
            .any(|i| i.in_source() || i.row.offset != 0.0);
        for it in &data.items {
            let r = &it.row;
            let spk = kaldi_id(&it.speaker);
            let id = kaldi_id(&r.id);
            let utt = if id.starts_with(&format!("{spk}-")) {
                id
            } else {
                format!("{spk}-{id}")
            };
            let (reco, start_s) = if it.in_source() {
                let reco = kaldi_id(&format!("{}-ch{}", it.source_id, r.channel));
                if !recos.contains_key(&reco) {
                    let path =
                        dest.refer_abs(&it.audio, &format!("sources/{}", file_name(&it.audio)))?;
                    let dur = data
                        .file(&it.source_id)
                        .and_then(|f| f.stats.as_ref())
                        .map(|s| s.duration_s)
                        .unwrap_or(r.offset + r.duration);
                    let cmd = if r.source_channels > Some(1) {
                        format!("sox {path} -t wav - remix {} |", r.channel + 1)
                    } else {
                        path
                    };
                    recos.insert(reco.clone(), (cmd, dur));
                }
                (reco, r.offset)
            } else {
                let path = dest.refer_abs(&it.audio, &format!("audio/{}", file_name(&it.audio)))?;
                let reco = if segments {
                    kaldi_id(&r.id)
                } else {
                    utt.clone()
                };
                recos.insert(reco.clone(), (path, r.offset + r.duration));
                (reco, r.offset)
            };
            utts.insert(
                utt,
                Utt {
                    spk,
                    reco,
                    start_s,
                    end_s: start_s + r.duration,
                    text: r.text.split_whitespace().collect::<Vec<_>>().join(" "),
                },
            );
        }
        let mut spk2utt: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (u, x) in &utts {
            spk2utt.entry(&x.spk).or_default().push(u);
        }
        dest.write("wav.scp", |w| {
            recos
                .iter()
                .try_for_each(|(id, (cmd, _))| writeln!(w, "{id} {cmd}"))
        })?;
        dest.write("reco2dur", |w| {
            recos
                .iter()
                .try_for_each(|(id, (_, d))| writeln!(w, "{id} {}", secs(*d)))
        })?;
        if segments {
            dest.write("segments", |w| {
                utts.iter().try_for_each(|(u, x)| {
                    writeln!(w, "{u} {} {} {}", x.reco, secs(x.start_s), secs(x.end_s))
                })
            })?;
        }
        dest.write("utt2spk", |w| {
            utts.iter()
                .try_for_each(|(u, x)| writeln!(w, "{u} {}", x.spk))
        })?;
        dest.write("spk2utt", |w| {
            spk2utt
                .iter()
                .try_for_each(|(s, us)| writeln!(w, "{s} {}", us.join(" ")))
        })?;
        if segments {
            // Lhotse's reader requires `text` beside `segments` and accepts
            // an utterance id alone there (an empty transcript).
            dest.write("text", |w| {
                utts.iter().try_for_each(|(u, x)| match x.text.is_empty() {
                    true => writeln!(w, "{u}"),
                    false => writeln!(w, "{u} {}", x.text),
                })
            })?;
        } else if utts.values().any(|x| !x.text.is_empty()) {
            dest.write("text", |w| {
                utts.iter()
                    .filter(|(_, x)| !x.text.is_empty())
                    .try_for_each(|(u, x)| writeln!(w, "{u} {}", x.text))
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_short() {
        assert_eq!(secs(9.28), "9.28");
        assert_eq!(secs(0.0), "0");
        assert_eq!(secs(20.0), "20");
        assert_eq!(secs(3.3500001), "3.35");
    }
}
