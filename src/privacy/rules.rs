//! The personal-data detectors: payment card, Kazakh IIN/BIN, phone
//! number, Kazakh IBAN, e-mail address.
//!
//! In: a transcript already through [`super::normalize()`]. Out: whether
//! one rule matches (`bool`); the matched text never leaves this module.
//! Pure functions; the e-mail patterns are compiled once per process.
//!
//! Numbers are read as *digit runs*: groups of digits separated only by
//! spaces, dashes and brackets ("8 (701) 123-45-67", "4400 4301 2345
//! 6789"). A dot, comma, colon or slash ends a run, so dates ("12.03.2024"),
//! times ("10:30") and decimals stay apart. A rule looks at every run of
//! groups inside a digit run (so a card followed by its expiry, or a phone
//! after a contract number, are still found), except in a run made only of
//! one-digit groups (digits dictated one by one): it is judged as a whole.
//! A run followed by a currency word or sign ("1 500 000 тенге", "$", "%")
//! is an amount and matches no numeric rule.
//!
//! - card: 13–19 digits that pass the Luhn check;
//! - IIN/BIN: 12 digits whose 12th is the check digit (weights 1..11, and
//!   3..11,1,2 when the first sum mod 11 is 10) and whose first digits are a
//!   date: an IIN (YYMMDD, then the century/sex digit 0–6) or a BIN (YYMM,
//!   then the entity type 4–6 and 0–3);
//! - phone: 11 digits starting with 7 or 8 (`+7 7xx …`, `8 7xx …`, also
//!   `+7 9xx` and `8 800`) or 10 starting with 7 (`7xx xxx xx xx`); not
//!   when it is grouped by thousands as an amount ("80 000 000 000");
//!   7-digit local numbers ("123-45-67") are not detected, since reference
//!   numbers look the same;
//! - IBAN: `KZ` (or Cyrillic `КЗ`), 2 check digits and 16 letters or
//!   digits (spaces and dashes between them allowed), valid mod 97;
//! - e-mail: `local@domain.tld`, or as an STT writes it spoken: `собака` /
//!   `at` / `эт` for `@` and `точка` / `dot` / `нүкте` for `.`, ending in a
//!   known top-level domain (`ru`, `kz`, `com`, `net`, `org`, `рф`, and
//!   their Cyrillic spellings).

use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;

/// A personal-data detector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rule {
    /// A payment card number.
    Card,
    /// A Kazakh IIN (person) or BIN (business).
    Iin,
    /// A phone number.
    Phone,
    /// A Kazakh IBAN.
    Iban,
    /// An e-mail address.
    Email,
}

impl Rule {
    /// Every rule, in the order they are tried (the first match names the drop).
    pub const ALL: [Rule; 5] = [Rule::Card, Rule::Iin, Rule::Phone, Rule::Iban, Rule::Email];

    /// The rule's name in `--rules` and the quarantine (`card`, `iin`, …).
    pub fn name(self) -> &'static str {
        match self {
            Rule::Card => "card",
            Rule::Iin => "iin",
            Rule::Phone => "phone",
            Rule::Iban => "iban",
            Rule::Email => "email",
        }
    }

    /// The rule called `name`, if any.
    pub fn from_name(name: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|r| r.name() == name)
    }

    /// Whether this rule finds its kind of data in `normalized` text.
    pub fn matches(self, normalized: &str) -> bool {
        match self {
            Rule::Card => digit_windows(normalized).any(|w| is_card(&w.digits)),
            Rule::Iin => digit_windows(normalized).any(|w| is_iin(&w.digits)),
            Rule::Phone => digit_windows(normalized).any(|w| is_phone(&w.digits, &w.group_lens)),
            Rule::Iban => has_iban(normalized),
            Rule::Email => has_email(normalized),
        }
    }
}

/// A run of digit groups in the text.
#[derive(Debug)]
struct Run {
    /// Byte ranges of the groups.
    groups: Vec<Range<usize>>,
}

/// A candidate number: some consecutive groups of one run.
#[derive(Debug)]
struct Window {
    digits: String,
    group_lens: Vec<usize>,
}

/// Characters that may stand between the groups of one number.
fn is_joiner(c: char) -> bool {
    c.is_whitespace() || matches!(c, '-' | '–' | '—' | '(' | ')')
}

/// The digit runs of `s` that are not amounts.
fn runs(s: &str) -> Vec<Run> {
    let b = s.as_bytes();
    let mut runs: Vec<Run> = Vec::new();
    let mut open: Option<Run> = None;
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let joined = open.as_ref().is_some_and(|r| {
            let prev_end = r.groups.last().map_or(start, |g| g.end);
            let gap = &s[prev_end..start];
            !gap.is_empty() && gap.chars().count() <= 4 && gap.chars().all(is_joiner)
        });
        if joined {
            if let Some(r) = open.as_mut() {
                r.groups.push(start..i);
            }
        } else {
            runs.extend(open.take());
            open = Some(Run {
                groups: std::iter::once(start..i).collect(),
            });
        }
    }
    runs.extend(open);
    runs.retain(|r| {
        let end = r.groups.last().map_or(0, |g| g.end);
        !is_amount_after(&s[end..])
    });
    runs
}

/// Whether the text right after a number makes it an amount or a share.
fn is_amount_after(rest: &str) -> bool {
    const UNITS: [&str; 17] = [
        "тенге",
        "тнг",
        "тг",
        "₸",
        "kzt",
        "руб",
        "р.",
        "₽",
        "rub",
        "доллар",
        "$",
        "usd",
        "евро",
        "€",
        "eur",
        "%",
        "процент",
    ];
    let rest = rest.trim_start();
    UNITS.iter().any(|u| rest.starts_with(u))
}

/// The longest number any rule reads (a 19-digit card).
const MAX_DIGITS: usize = 19;

/// Every window of every run of `s` (see the module docs).
fn digit_windows(s: &str) -> impl Iterator<Item = Window> + '_ {
    runs(s).into_iter().flat_map(move |run| {
        let n = run.groups.len();
        // Digits dictated one by one, judged as a whole (a run longer than
        // any rule's number matches none).
        let single = run.groups.iter().all(|g| g.len() == 1);
        if single && n > MAX_DIGITS {
            return Vec::new();
        }
        let spans: Vec<(usize, usize)> = if single {
            vec![(0, n)]
        } else {
            // No rule reads more than MAX_DIGITS digits: longer windows are
            // never built (a run of thousands of groups stays linear).
            let lens: Vec<usize> = run.groups.iter().map(ExactSizeIterator::len).collect();
            (0..n)
                .flat_map(|i| {
                    let mut total = 0;
                    let lens = &lens;
                    (i..n)
                        .take_while(move |&j| {
                            total += lens[j];
                            total <= MAX_DIGITS
                        })
                        .map(move |j| (i, j + 1))
                })
                .collect()
        };
        spans
            .into_iter()
            .map(|(i, j)| {
                let groups = &run.groups[i..j];
                Window {
                    digits: groups.iter().map(|g| &s[g.clone()]).collect(),
                    group_lens: groups.iter().map(ExactSizeIterator::len).collect(),
                }
            })
            .collect::<Vec<_>>()
    })
}

/// The value of an ASCII digit.
fn digit(c: u8) -> u32 {
    u32::from(c - b'0')
}

/// The Luhn check of a digit string.
pub(super) fn luhn_ok(d: &str) -> bool {
    let sum: u32 = d
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, c)| {
            let v = digit(c);
            if i % 2 == 1 {
                let x = 2 * v;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                v
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

fn is_card(d: &str) -> bool {
    (13..=19).contains(&d.len()) && luhn_ok(d)
}

/// The check digit of the first 11 digits of an IIN/BIN, if it has one.
pub(super) fn iin_check_digit(first11: &[u8]) -> Option<u8> {
    let sum = |weights: &[u32]| -> u32 {
        first11
            .iter()
            .zip(weights)
            .map(|(&c, w)| digit(c) * w)
            .sum::<u32>()
            % 11
    };
    let mut s = sum(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    if s == 10 {
        s = sum(&[3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2]);
    }
    // Both sums 10: no valid number has these first digits.
    (s < 10).then_some(s as u8)
}

fn is_iin(d: &str) -> bool {
    let b = d.as_bytes();
    if b.len() != 12 {
        return false;
    }
    let two = |i: usize| digit(b[i]) * 10 + digit(b[i + 1]);
    let month_ok = (1..=12).contains(&two(2));
    let person = (1..=31).contains(&two(4)) && digit(b[6]) <= 6;
    let business = (4..=6).contains(&digit(b[4])) && digit(b[5]) <= 3;
    month_ok && (person || business) && iin_check_digit(&b[..11]) == Some(digit(b[11]) as u8)
}

fn is_phone(d: &str, group_lens: &[usize]) -> bool {
    let first = d.as_bytes().first().copied();
    let shape = match d.len() {
        11 => matches!(first, Some(b'7' | b'8')),
        10 => first == Some(b'7'),
        _ => false,
    };
    // "80 000 000 000": groups of three after the first are an amount.
    let amount = group_lens.len() >= 3 && group_lens[1..].iter().all(|&l| l == 3);
    shape && !amount
}

/// Whether `s` holds a KZ IBAN with a valid mod-97 check.
fn has_iban(s: &str) -> bool {
    let mut prev: Option<char> = None;
    for (i, c) in s.char_indices() {
        let starts = s[i..].starts_with("kz") || s[i..].starts_with("кз");
        if starts && !prev.is_some_and(char::is_alphanumeric) {
            let after = &s[i + if c == 'k' { 2 } else { "кз".len() }..];
            if iban_body_ok(after) {
                return true;
            }
        }
        prev = Some(c);
    }
    false
}

/// The 18 characters after `KZ` (2 check digits, 16 alphanumerics; spaces
/// and dashes skipped): whether `KZ` + they pass mod 97.
fn iban_body_ok(after: &str) -> bool {
    let mut body: Vec<u8> = Vec::with_capacity(18);
    for c in after.chars() {
        if body.len() == 18 {
            break;
        }
        if c.is_ascii_alphanumeric() {
            body.push(c.to_ascii_lowercase() as u8);
        } else if c == ' ' || c == '-' {
            continue;
        } else {
            break;
        }
    }
    if body.len() != 18 || !body[..2].iter().all(u8::is_ascii_digit) {
        return false;
    }
    // The next character must not continue the code.
    // Rearranged: BBAN, then "kz", then the check digits.
    let rearranged = body[2..]
        .iter()
        .chain(b"kz")
        .chain(&body[..2])
        .copied()
        .collect::<Vec<u8>>();
    let mut rem: u32 = 0;
    for c in rearranged {
        let v = if c.is_ascii_digit() {
            digit(c)
        } else {
            u32::from(c - b'a') + 10
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

static EMAIL_WRITTEN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[\p{L}\p{N}._%+\-]+@[\p{L}\p{N}\-]+(?:\.[\p{L}\p{N}\-]+)*\.\p{L}{2,}")
        .expect("a valid pattern (a constant)")
});

static EMAIL_SPOKEN: LazyLock<Regex> = LazyLock::new(|| {
    let at = r"(?:\s*@\s*|\s+(?:собака|собачка|at|эт)\s+)";
    let dot = r"(?:\s*\.\s*|\s+(?:точка|dot|дот|нүкте)\s+)";
    let part = r"[\p{L}\p{N}_\-]+";
    let tld = r"(?:ru|ру|kz|кз|com|ком|net|нет|org|орг|рф)";
    Regex::new(&format!(
        r"{part}(?:{dot}{part})*{at}{part}(?:{dot}{part})*{dot}{tld}\b"
    ))
    .expect("a valid pattern (a constant)")
});

fn has_email(s: &str) -> bool {
    EMAIL_WRITTEN.is_match(s) || EMAIL_SPOKEN.is_match(s)
}

#[cfg(test)]
mod tests;
