//! Edge mirroring against numpy's and Kaldi's.

use super::*;

#[test]
fn reflect_matches_numpy() {
    // np.pad(np.arange(4), 7, mode="reflect")
    let want = [1, 0, 1, 2, 3, 2, 1, 0, 1, 2, 3, 2, 1, 0, 1, 2, 3, 2];
    let got: Vec<usize> = (-7..11).map(|i| reflect_numpy(i, 4).unwrap()).collect();
    assert_eq!(got, want);
    // Kaldi: -1 → 0, -2 → 1, n → n-1.
    assert_eq!(reflect_kaldi(-1, 5), Some(0));
    assert_eq!(reflect_kaldi(-2, 5), Some(1));
    assert_eq!(reflect_kaldi(5, 5), Some(4));
}
