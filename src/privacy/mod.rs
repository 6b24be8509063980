//! The privacy gate's detectors: which personal data a transcript holds.
//!
//! In: a chunk's transcript (`&str`) and the rules to apply. Out: the first
//! [`Rule`] that matches, or `None`: never the matched text, which stays
//! inside [`rules`]. Pure and allocation-light (one normalised copy of the
//! text per call); no I/O.
//!
//! - [`normalize()`]: lowercase, dictated Russian/Kazakh numbers → digits;
//! - [`rules`]: card (Luhn), IIN/BIN (check digit), phone, KZ IBAN (mod 97),
//!   e-mail.

pub mod normalize;
pub mod rules;

pub use normalize::normalize;
pub use rules::Rule;

/// The first of `rules` (tried in [`Rule::ALL`] order) that finds personal
/// data in `text`.
pub fn detect(text: &str, rules: &[Rule]) -> Option<Rule> {
    if text.trim().is_empty() || rules.is_empty() {
        return None;
    }
    let normalized = normalize(text);
    Rule::ALL
        .into_iter()
        .filter(|r| rules.contains(r))
        .find(|r| r.matches(&normalized))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detect_follows_the_rule_order_and_the_chosen_rules() {
        let t = "карта 4400 4301 2345 6789, почта a@b.kz";
        assert_eq!(detect(t, &Rule::ALL), Some(Rule::Card));
        assert_eq!(detect(t, &[Rule::Email]), Some(Rule::Email));
        assert_eq!(detect(t, &[Rule::Phone, Rule::Iban]), None);
        assert_eq!(detect(t, &[]), None);
        assert_eq!(detect("", &Rule::ALL), None);
    }
}
