//! Each rule on its positive forms (digits, spaced groups, dashes and
//! brackets, spelled in Russian and Kazakh, mixed) and on controls that
//! must stay (amounts, dates, times, reference numbers, bad check digits).

use super::*;
use crate::privacy::normalize;

/// The rules that match `text` (after normalisation), in [`Rule::ALL`] order.
fn hits(text: &str) -> Vec<Rule> {
    let n = normalize(text);
    Rule::ALL.into_iter().filter(|r| r.matches(&n)).collect()
}

fn assert_only(rule: Rule, texts: &[&str]) {
    for t in texts {
        assert_eq!(hits(t), vec![rule], "{t:?} (normalized {:?})", normalize(t));
    }
}

fn assert_none(texts: &[&str]) {
    for t in texts {
        assert_eq!(hits(t), vec![], "{t:?} (normalized {:?})", normalize(t));
    }
}

#[test]
fn check_digit_algorithms() {
    assert!(luhn_ok("4400430123456789"));
    assert!(!luhn_ok("4400430123456780"));
    assert!(luhn_ok("79927398713"), "Luhn's textbook example");
    assert_eq!(iin_check_digit(b"85031530012"), Some(8));
    // A first sum of 10 takes the second weights: 9×11 = 99 = 0 mod 11 …
    // here one whose first sum is 10: 1×1 + 0 … + 9×1 → see below.
    let b = b"00000000010"; // 1×10 = 10: first sum 10, second 1×1 = 1
    assert_eq!(iin_check_digit(b), Some(1));
}

#[test]
fn cards() {
    assert_only(
        Rule::Card,
        &[
            "номер карты 4400430123456789",
            "карта 4400 4301 2345 6789 спасибо",
            "4400-4301-2345-6789",
            "четыре четыре ноль ноль четыре три ноль один два три четыре пять шесть семь восемь девять",
            "төрт төрт нөл нөл төрт үш нөл бір екі үш төрт бес алты жеті сегіз тоғыз",
            "сорок четыре ноль ноль сорок три ноль один двадцать три сорок пять шестьдесят семь восемьдесят девять",
            "4400 4301 два три четыре пять 6789",
            "Карта 2202 2012 3456 7895, срок 12 25",
            "амекс 3714 496353 981",
        ],
    );
    assert_none(&[
        "4400 4301 2345 6780",
        "четыре четыре ноль ноль четыре три ноль один два три четыре пять шесть семь восемь ноль",
        "4400430123456789 тенге",
    ]);
}

#[test]
fn iins() {
    assert_only(
        Rule::Iin,
        &[
            "мой ИИН 850315300128",
            "иин 850315 300128",
            "восемь пять ноль три один пять три ноль ноль один два восемь",
            "сегіз бес нөл үш бір бес үш нөл нөл бір екі сегіз",
            "БИН 040701503213",
            "восемьдесят пять ноль три пятнадцать триста 128",
        ],
    );
    assert_none(&[
        "иин 850315300127",
        "851315300128",
        "восемь пять ноль три один пять три ноль ноль один два семь",
    ]);
}

#[test]
fn phones() {
    assert_only(
        Rule::Phone,
        &[
            "+7 701 123 45 67",
            "8 (701) 123-45-67",
            "звоните 87011234567",
            "+77011234567",
            "701 123 45 67",
            "номер 7011234567.",
            "восемь семьсот один сто двадцать три сорок пять шестьдесят семь",
            "плюс семь семь ноль один один два три четыре пять шесть семь",
            "сегіз жеті нөл бір бір екі үш төрт бес алты жеті",
            "8 727 2 50 50 50",
            "восемь 701 один два три 45 67",
        ],
    );
    assert_none(&[
        "номер заявки 123-45-67",
        "80 000 000 000",
        "7 000 000 000 тенге",
    ]);
}

#[test]
fn ibans() {
    assert_only(
        Rule::Iban,
        &[
            "KZ86125KZT5004100100",
            "счёт KZ86 125K ZT50 0410 0100",
            "kz18-722s-0000-1234-5678",
            "КЗ18722S000012345678",
            "KZ восемь шесть 125KZT5004100100",
        ],
    );
    assert_none(&[
        "KZ87125KZT5004100100",
        "KZ86125KZT50041001",
        "BKZ86125KZT5004100100",
    ]);
}

#[test]
fn emails() {
    assert_only(
        Rule::Email,
        &[
            "пишите на ivan.petrov@mail.ru",
            "IVAN_1985@Bank.KZ",
            "иван собака мейл точка ру",
            "ivan at gmail dot com",
            "почта aigerim собака mail.ru",
            "иван.петров@почта.рф",
        ],
    );
    assert_none(&[
        "собака лает во дворе",
        "точка продаж на Абая",
        "@ каждый",
        "ivan@localhost",
    ]);
}

/// Numbers that are not personal data stay.
#[test]
fn controls_stay() {
    assert_none(&[
        "сумма 1 500 тенге",
        "перевод 150 000 тенге",
        "тысяча пятьсот тенге",
        "платёж от 12.03.2024",
        "12 марта в 10:30",
        "дата 2024-03-12",
        "номер обращения 1234567",
        "двадцать пять минут",
        "семь дней, сто процентов",
        "ставка 18.5 %",
        "1 2 3 4 5 6 7",
        "",
    ]);
}

/// Long runs of numbers stay linear in time and match nothing by accident.
#[test]
fn long_runs_are_bounded() {
    let many_groups = "12 ".repeat(20_000);
    let many_digits = "7 ".repeat(20_000);
    assert_eq!(hits(&many_groups), vec![]);
    assert_eq!(hits(&many_digits), vec![]);
    assert_eq!(hits(&"пять ".repeat(5_000)), vec![]);
    // The same card inside a long run is still found. (Not after "12 12 …":
    // "12 12 12 12 4400" happens to be a valid IIN, which is found too.)
    let filler = "55 ".repeat(20_000);
    assert_eq!(
        hits(&format!("{filler} 4400 4301 2345 6789")),
        vec![Rule::Card]
    );
}
