//! `--shard K/N`: which pairs one of N eval processes scores.
//!
//! The pairs, sorted by stem, are cut into N contiguous ranges whose sizes differ by at most
//! one; shard K (counted from 0, like a Slurm array index `--array=0-(N-1)`) scores range K.
//! Contiguous ranges, not every N-th pair: a partial's images are then already in report
//! order, so `segloss merge` writes shard after shard without sorting or holding a whole
//! dataset, and a shard reads neighbouring files.

use std::ops::Range;

/// The most shards `--shard` accepts.
pub(crate) const MAX_SHARDS: u64 = 1 << 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Shard {
    /// K: 0 ≤ K < N.
    pub(crate) index: u64,
    /// N: 1 ≤ N ≤ `MAX_SHARDS`.
    pub(crate) count: u64,
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// `K/N` as typed after `--shard`; the error names the flag and says what is expected.
    pub(crate) fn parse(text: &str) -> Result<Shard, String> {
        let usage = "expected K/N: shard K (counted from 0) of N, e.g. 0/4 … 3/4";
        let Some((k, n)) = text.split_once('/') else {
            return Err(format!("--shard '{text}': {usage}"));
        };
        let whole = |s: &str| if s.bytes().all(|b| b.is_ascii_digit()) { s.parse::<u64>().ok() } else { None };
        let (Some(index), Some(count)) = (whole(k), whole(n)) else {
            return Err(format!("--shard '{text}': {usage}"));
        };
        Shard::new(index, count).map_err(|e| format!("--shard '{text}': {e}"))
    }

    /// Shard `index` of `count`, checked.
    pub(crate) fn new(index: u64, count: u64) -> Result<Shard, String> {
        if count == 0 || count > MAX_SHARDS {
            return Err(format!("the number of shards N = {count} is not in 1..={MAX_SHARDS}"));
        }
        if index >= count {
            return Err(format!("shard K = {index} is not below N = {count} (shards are numbered 0 to N-1)"));
        }
        Ok(Shard { index, count })
    }

    /// The pair indices of this shard among `pairs` pairs.
    pub(crate) fn range(&self, pairs: u64) -> Range<u64> {
        let at = |k: u64| (k as u128 * pairs as u128 / self.count as u128) as u64;
        at(self.index)..at(self.index + 1)
    }
}

/// A fingerprint of the sorted pair list (stems and file names), so that partials made from
/// different folders' contents are not merged: FNV-1a, 64 bits, in hex.
pub(crate) fn pairs_digest<'a>(pairs: impl IntoIterator<Item = [&'a str; 3]>) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for names in pairs {
        for name in names {
            for &b in name.as_bytes().iter().chain(&[0]) {
                hash = (hash ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
    }
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_tile_the_pairs_in_order_with_sizes_within_one() {
        for pairs in [0u64, 1, 3, 7, 10, 1000, u64::MAX] {
            for count in [1u64, 2, 3, 4, 7, 11] {
                let ranges: Vec<Range<u64>> = (0..count).map(|k| Shard::new(k, count).unwrap().range(pairs)).collect();
                assert_eq!(ranges[0].start, 0);
                assert_eq!(ranges[count as usize - 1].end, pairs);
                for w in ranges.windows(2) {
                    assert_eq!(w[0].end, w[1].start);
                }
                let sizes: Vec<u64> = ranges.iter().map(|r| r.end - r.start).collect();
                let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
                assert!(max - min <= 1, "{pairs} pairs in {count}: {sizes:?}");
            }
        }
    }

    #[test]
    fn shard_specs_are_checked() {
        assert_eq!(Shard::parse("0/1").unwrap(), Shard { index: 0, count: 1 });
        assert_eq!(Shard::parse("3/4").unwrap(), Shard { index: 3, count: 4 });
        for (bad, why) in [
            ("4/4", "not below N = 4"),
            ("0/0", "N = 0 is not in 1..="),
            ("1/70000", "N = 70000"),
            ("3", "expected K/N"),
            ("-1/4", "expected K/N"),
            ("+1/4", "expected K/N"),
            ("1/4/5", "expected K/N"),
            ("a/b", "expected K/N"),
            ("/4", "expected K/N"),
            (" 1/4", "expected K/N"),
            ("99999999999999999999999/4", "expected K/N"),
        ] {
            let e = Shard::parse(bad).unwrap_err();
            assert!(e.starts_with(&format!("--shard '{bad}'")) && e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn the_digest_depends_on_every_name_and_where_it_ends() {
        let d = |p: &[[&str; 3]]| pairs_digest(p.iter().copied());
        let base = d(&[["a", "a.png", "a.png"], ["b", "b.png", "b.npy"]]);
        assert_eq!(base.len(), 16);
        assert_eq!(base, d(&[["a", "a.png", "a.png"], ["b", "b.png", "b.npy"]]));
        assert_ne!(base, d(&[["a", "a.png", "a.png"], ["b", "b.png", "b.png"]]));
        assert_ne!(base, d(&[["a", "a.png", "a.png"]]));
        assert_ne!(d(&[["ab", "", ""]]), d(&[["a", "b", ""]]));
    }
}
