//! Transcript text → the form the detectors read.
//!
//! In: one transcript (`&str`, any case, Russian/Kazakh/Latin). Out: a new
//! `String`, lowercased (`ё` → `е`), where every number word an STT writes
//! when a caller dictates digits is replaced by its digits, and `плюс`
//! (`plus`) by `+`. Everything else is kept as it is. Allocates the output.
//!
//! Numbers: the ten digits in Russian (`ноль/нуль, один/одна/одно, два/две,
//! три, четыре, пять, шесть, семь, восемь, девять`) and Kazakh (`нөл, бір,
//! екі, үш, төрт, бес, алты, жеті, сегіз, тоғыз`), and, because a caller
//! reads a card or phone number in groups ("семьсот один", "сорок пять",
//! "жиырма бес"), the compound numbers below one thousand: teens, tens and
//! hundreds (Russian `сто … девятьсот`, Kazakh `жүз`, `екі жүз`, …) are
//! expanded, so "восемь семьсот один сто двадцать три сорок пять шестьдесят
//! семь" becomes "8 701 123 45 67". A compound takes its parts in falling
//! order (hundreds, then tens or a teen, then a unit); a word that cannot
//! continue it starts the next number ("пять пять" is "5 5"). Numbers of
//! one thousand and more (`тысяча`, `мың`, `миллион`) are amounts, never
//! digits of an identifier: those words are left as words and so break a
//! digit sequence.
//!
//! Not read as numbers: Kazakh `он` (10; it is also the Russian "he") and
//! with it the Kazakh teens (`он бір` stays "он 1"), and `торт` (a Russian
//! word; the Kazakh 4 is `төрт`).
//!
//! Commas an STT puts between dictated numbers ("семь, ноль, один") are
//! dropped, so the digits stay one sequence; between numbers written as
//! digits ("12, 15") they stay.

/// One number word: its value and its place in a compound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Num {
    /// 0: never part of a compound.
    Zero,
    /// 1–9.
    Unit(u16),
    /// 10–19.
    Teen(u16),
    /// 20, 30, …, 90.
    Ten(u16),
    /// 100, 200, …, 900.
    Hundred(u16),
    /// Kazakh `жүз` (100): multiplies a unit before it (`екі жүз` = 200).
    KkHundred,
}

/// The number a word names, if any (the word already lowercased, `ё` → `е`).
fn number_word(w: &str) -> Option<Num> {
    use Num::*;
    Some(match w {
        "ноль" | "нуль" | "нөл" | "нол" => Zero,
        "один" | "одна" | "одно" | "бір" | "бир" => Unit(1),
        "два" | "две" | "екі" | "еки" => Unit(2),
        "три" | "үш" | "уш" => Unit(3),
        "четыре" | "төрт" => Unit(4),
        "пять" | "бес" => Unit(5),
        "шесть" | "алты" => Unit(6),
        "семь" | "жеті" | "жети" => Unit(7),
        "восемь" | "сегіз" | "сегиз" => Unit(8),
        "девять" | "тоғыз" | "тогыз" => Unit(9),
        "десять" => Teen(10),
        "одиннадцать" => Teen(11),
        "двенадцать" => Teen(12),
        "тринадцать" => Teen(13),
        "четырнадцать" => Teen(14),
        "пятнадцать" => Teen(15),
        "шестнадцать" => Teen(16),
        "семнадцать" => Teen(17),
        "восемнадцать" => Teen(18),
        "девятнадцать" => Teen(19),
        "двадцать" | "жиырма" => Ten(20),
        "тридцать" | "отыз" => Ten(30),
        "сорок" | "қырық" | "кырык" => Ten(40),
        "пятьдесят" | "елу" => Ten(50),
        "шестьдесят" | "алпыс" => Ten(60),
        "семьдесят" | "жетпіс" | "жетпис" => Ten(70),
        "восемьдесят" | "сексен" => Ten(80),
        "девяносто" | "тоқсан" | "токсан" => Ten(90),
        "сто" => Hundred(100),
        "двести" => Hundred(200),
        "триста" => Hundred(300),
        "четыреста" => Hundred(400),
        "пятьсот" => Hundred(500),
        "шестьсот" => Hundred(600),
        "семьсот" => Hundred(700),
        "восемьсот" => Hundred(800),
        "девятьсот" => Hundred(900),
        "жүз" | "жуз" => KkHundred,
        _ => return None,
    })
}

/// A compound number being read: its value and the smallest place filled.
#[derive(Debug, Clone, Copy)]
struct Compound {
    value: u16,
    /// 3: hundreds filled, 2: tens (20–90) filled, 1: a unit or teen (closed).
    place: u8,
    /// The digits it prints: "105" for `сто пять`, "20" for `двадцать`.
    width: u8,
}

impl Compound {
    fn start(n: Num) -> Option<Compound> {
        Some(match n {
            Num::Zero => return None,
            Num::Unit(v) | Num::Teen(v) => Compound {
                value: v,
                place: 1,
                width: if v < 10 { 1 } else { 2 },
            },
            Num::Ten(v) => Compound {
                value: v,
                place: 2,
                width: 2,
            },
            Num::Hundred(v) => Compound {
                value: v,
                place: 3,
                width: 3,
            },
            Num::KkHundred => Compound {
                value: 100,
                place: 3,
                width: 3,
            },
        })
    }

    /// Adds `n` to the compound if it can continue it.
    fn extend(&mut self, n: Num) -> bool {
        match (self.place, n) {
            // Kazakh `екі жүз`: a lone unit times a hundred.
            (1, Num::KkHundred) if self.width == 1 => {
                self.value *= 100;
                self.place = 3;
                self.width = 3;
            }
            (3, Num::Unit(v) | Num::Teen(v) | Num::Ten(v)) => {
                self.value += v;
                self.place = if matches!(n, Num::Ten(_)) { 2 } else { 1 };
            }
            (2, Num::Unit(v)) => {
                self.value += v;
                self.place = 1;
            }
            _ => return false,
        }
        true
    }

    fn digits(self) -> String {
        format!("{:0width$}", self.value, width = usize::from(self.width))
    }
}

/// A piece of the text between number words.
enum Piece<'a> {
    /// Digits of one spoken number.
    Spoken(String),
    /// Anything else, verbatim (already lowercased).
    Text(&'a str),
}

/// Lowercases `text`, turns dictated numbers into digits and `плюс`/`plus`
/// into `+` (see the module docs).
pub fn normalize(text: &str) -> String {
    let lower = text.to_lowercase().replace('ё', "е");
    // Split into words (letters) and the text between them.
    let mut pieces: Vec<Piece> = Vec::new();
    let mut current: Option<Compound> = None;
    let flush = |c: &mut Option<Compound>, pieces: &mut Vec<Piece>| {
        if let Some(c) = c.take() {
            pieces.push(Piece::Spoken(c.digits()));
        }
    };
    // Spaces after a compound: dropped if the next word continues it.
    let mut pending: Option<&str> = None;
    for (word, is_word) in split_words(&lower) {
        let num = if is_word { number_word(word) } else { None };
        match num {
            Some(n) => {
                if let Some(c) = current.as_mut() {
                    if c.extend(n) {
                        pending = None;
                        continue;
                    }
                }
                flush(&mut current, &mut pieces);
                pieces.extend(pending.take().map(Piece::Text));
                match Compound::start(n) {
                    Some(c) => current = Some(c),
                    None => pieces.push(Piece::Spoken("0".into())),
                }
            }
            None => {
                // Spaces inside a compound ("сорок пять") do not end it.
                if current.is_some() && word.chars().all(char::is_whitespace) {
                    pending = Some(word);
                    continue;
                }
                flush(&mut current, &mut pieces);
                pieces.extend(pending.take().map(Piece::Text));
                let text = match word {
                    "плюс" | "plus" => "+",
                    w => w,
                };
                pieces.push(Piece::Text(text));
            }
        }
    }
    flush(&mut current, &mut pieces);
    pieces.extend(pending.take().map(Piece::Text));
    // Join: spoken numbers are separated by one space; a comma (and its
    // spaces) between two spoken numbers is dropped.
    let mut out = String::with_capacity(lower.len());
    let mut last_spoken = false;
    let mut i = 0;
    while i < pieces.len() {
        match &pieces[i] {
            Piece::Spoken(d) => {
                if last_spoken {
                    out.push(' ');
                }
                out.push_str(d);
                last_spoken = true;
            }
            Piece::Text(t) => {
                let next_spoken = matches!(pieces.get(i + 1), Some(Piece::Spoken(_)));
                let gap = t.chars().all(|c| c.is_whitespace() || c == ',');
                if last_spoken && next_spoken && gap {
                    // The separator before the next spoken number is written by it.
                } else {
                    out.push_str(t);
                    last_spoken = false;
                }
            }
        }
        i += 1;
    }
    out
}

/// `s` cut into maximal runs of letters (`true`) and of everything else.
fn split_words(s: &str) -> impl Iterator<Item = (&str, bool)> {
    let mut rest = s;
    std::iter::from_fn(move || {
        let first = rest.chars().next()?;
        let is_word = first.is_alphabetic();
        let end = rest
            .char_indices()
            .find(|&(_, c)| c.is_alphabetic() != is_word)
            .map_or(rest.len(), |(i, _)| i);
        let (piece, tail) = rest.split_at(end);
        rest = tail;
        Some((piece, is_word))
    })
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn digits_spelled_one_by_one() {
        assert_eq!(
            normalize("Четыре четыре ноль ноль"),
            "4 4 0 0",
            "Russian digits"
        );
        assert_eq!(normalize("нуль одна две"), "0 1 2");
        assert_eq!(
            normalize("төрт нөл бір екі үш бес алты жеті сегіз тоғыз"),
            "4 0 1 2 3 5 6 7 8 9"
        );
        assert_eq!(normalize("пять, пять, семь."), "5 5 7.");
    }

    #[test]
    fn compounds_below_a_thousand() {
        assert_eq!(
            normalize("восемь семьсот один сто двадцать три сорок пять шестьдесят семь"),
            "8 701 123 45 67"
        );
        assert_eq!(normalize("сто пять"), "105");
        assert_eq!(normalize("двадцать"), "20");
        assert_eq!(normalize("двадцать двадцать"), "20 20");
        assert_eq!(normalize("одиннадцать два"), "11 2");
        assert_eq!(normalize("екі жүз жиырма бес"), "225");
        assert_eq!(normalize("жетпіс жеті"), "77");
    }

    #[test]
    fn words_and_amounts_stay() {
        assert_eq!(
            normalize("Тысяча пятьсот тенге"),
            "тысяча 500 тенге",
            "a thousand is not a digit group"
        );
        assert_eq!(normalize("12 марта, Ёлка"), "12 марта, елка");
        assert_eq!(normalize("плюс семь"), "+ 7");
        assert_eq!(normalize("12, 15"), "12, 15");
        assert_eq!(normalize(""), "");
    }
}
