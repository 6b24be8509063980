//! The fast log against libm's.

use super::*;

#[test]
fn ln_fast_matches_libm() {
    let mut x = 1e-10f32;
    let mut worst = 0.0f32;
    while x < 1e12 {
        let d = (ln_fast(x) - x.ln()).abs();
        worst = worst.max(d);
        x *= 1.000_37;
    }
    assert!(worst < 2e-6, "worst |ln_fast - ln| = {worst}");
    assert_eq!(ln_fast(1.0), 0.0);
}
