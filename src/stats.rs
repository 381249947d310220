//! [`Stats`]: the per-segment sums every sum-based loss is a function of.
//!
//! A segment is one image (binary mode). The fused forward pass produces one `Stats` per
//! image; the whole-batch statistics are their sum. Stats are additive, so shards of a batch
//! (chunks of an over-large input, or the workers of a data-parallel trainer) merge exactly
//! with [`Stats::merge`].

/// Per-segment sums. `p` is the predicted probability, `t` the target, both over the valid
/// (not ignored) pixels of the segment.
///
/// `bce`, `focal` and `wce` depend on the per-pixel parameters
/// ([`PixelParams`](crate::PixelParams)) they were computed with.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Stats {
    /// Σ p
    pub sp: f64,
    /// Σ t
    pub st: f64,
    /// Σ p·t
    pub tp: f64,
    /// Σ p²
    pub spp: f64,
    /// Σ t²
    pub stt: f64,
    /// Σ |p − t|
    pub sad: f64,
    /// Σ binary cross-entropy (with pos_weight and label smoothing)
    pub bce: f64,
    /// Σ focal loss
    pub focal: f64,
    /// Σ β-weighted cross-entropy (Combo)
    pub wce: f64,
    /// number of valid pixels
    pub count: u64,
    /// pixels predicted positive (p ≥ 0.5) whose target is positive (t ≥ 0.5)
    pub hard_tp: u64,
    /// pixels predicted positive whose target is negative
    pub hard_fp: u64,
    /// pixels predicted negative whose target is positive
    pub hard_fn: u64,
}

impl Stats {
    /// The number of values in [`Stats::to_array`].
    pub const ARRAY_LEN: usize = 13;

    /// The names of [`Stats::to_array`]'s slots, in order.
    pub const ARRAY_NAMES: [&'static str; Stats::ARRAY_LEN] =
        ["sp", "st", "tp", "spp", "stt", "sad", "bce", "focal", "wce", "count", "hard_tp", "hard_fp", "hard_fn"];

    /// The largest count [`Stats::from_array`] accepts: every whole number up to 2^53 is exact
    /// in f64, so a count of at most this travels through an array unchanged.
    pub const MAX_EXACT_COUNT: u64 = 1 << 53;

    /// The statistics as plain numbers, to send to another process (MPI, a file, a socket):
    /// the sums `sp, st, tp, spp, stt, sad, bce, focal, wce`, then the counts `count, hard_tp,
    /// hard_fp, hard_fn` (slots 9–12; names in [`Stats::ARRAY_NAMES`]). This order is fixed.
    /// Counts up to 2^53 ([`Stats::MAX_EXACT_COUNT`]) are exact; [`Stats::from_array`] refuses
    /// larger ones rather than rounding them.
    pub fn to_array(&self) -> [f64; Stats::ARRAY_LEN] {
        [
            self.sp,
            self.st,
            self.tp,
            self.spp,
            self.stt,
            self.sad,
            self.bce,
            self.focal,
            self.wce,
            self.count as f64,
            self.hard_tp as f64,
            self.hard_fp as f64,
            self.hard_fn as f64,
        ]
    }

    /// The statistics of an array written by [`Stats::to_array`]. The sums are taken as they
    /// are; each count must be a whole number in 0..=2^53, else the error names its slot.
    pub fn from_array(a: &[f64; Stats::ARRAY_LEN]) -> crate::Result<Stats> {
        let count = |slot: usize| -> crate::Result<u64> {
            let v = a[slot];
            if v >= 0.0 && v <= Stats::MAX_EXACT_COUNT as f64 && v.fract() == 0.0 {
                Ok(v as u64)
            } else {
                Err(crate::Error::StatsMismatch(format!(
                    "Stats::from_array: slot {slot} ({}) = {v} is not a count (a whole number in 0..=2^53)",
                    Stats::ARRAY_NAMES[slot]
                )))
            }
        };
        Ok(Stats {
            sp: a[0],
            st: a[1],
            tp: a[2],
            spp: a[3],
            stt: a[4],
            sad: a[5],
            bce: a[6],
            focal: a[7],
            wce: a[8],
            count: count(9)?,
            hard_tp: count(10)?,
            hard_fp: count(11)?,
            hard_fn: count(12)?,
        })
    }

    /// Adds `other` into `self` (statistics of the union of both pixel sets).
    pub fn merge(&mut self, other: &Stats) {
        self.sp += other.sp;
        self.st += other.st;
        self.tp += other.tp;
        self.spp += other.spp;
        self.stt += other.stt;
        self.sad += other.sad;
        self.bce += other.bce;
        self.focal += other.focal;
        self.wce += other.wce;
        self.count += other.count;
        self.hard_tp += other.hard_tp;
        self.hard_fp += other.hard_fp;
        self.hard_fn += other.hard_fn;
    }

    /// The sum of several stats, added in order.
    pub fn total<'a>(all: impl IntoIterator<Item = &'a Stats>) -> Stats {
        let mut sum = Stats::default();
        for s in all {
            sum.merge(s);
        }
        sum
    }

    /// Soft false positives Σ p·(1−t) = SP − TP.
    pub fn fp(&self) -> f64 {
        self.sp - self.tp
    }

    /// Soft false negatives Σ (1−p)·t = ST − TP.
    pub fn fn_(&self) -> f64 {
        self.st - self.tp
    }

    /// Soft true negatives Σ (1−p)·(1−t) = (count − ST) − FP.
    pub fn tn(&self) -> f64 {
        (self.count as f64 - self.st) - self.fp()
    }

    /// True when the segment has no valid pixel. Empty segments are left out of every mean.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Metrics of the thresholded prediction (p ≥ 0.5 against t ≥ 0.5).
    pub fn metrics(&self) -> Metrics {
        Metrics::from_counts(self.hard_tp, self.hard_fp, self.hard_fn)
    }
}

/// Metrics of a thresholded prediction, from exact integer counts.
///
/// A ratio whose denominator is zero is 1.0 when the segment has no positive pixel in
/// either prediction or target (nothing to get wrong), else 0.0 (as scikit-learn's
/// `zero_division=0`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metrics {
    /// 2TP / (2TP + FP + FN)
    pub dice: f64,
    /// TP / (TP + FP + FN)
    pub iou: f64,
    /// TP / (TP + FP)
    pub precision: f64,
    /// TP / (TP + FN)
    pub recall: f64,
}

impl Metrics {
    /// Metrics from the counts of true positives, false positives and false negatives.
    pub fn from_counts(tp: u64, fp: u64, fn_: u64) -> Metrics {
        let all_empty = tp == 0 && fp == 0 && fn_ == 0;
        let ratio = |num: u64, den: u64| {
            if den > 0 {
                num as f64 / den as f64
            } else if all_empty {
                1.0
            } else {
                0.0
            }
        };
        Metrics {
            dice: ratio(2 * tp, 2 * tp + fp + fn_),
            iou: ratio(tp, tp + fp + fn_),
            precision: ratio(tp, tp + fp),
            recall: ratio(tp, tp + fn_),
        }
    }

    /// Mean of per-image metrics (images without valid pixels are left out by the caller).
    pub fn mean<'a>(all: impl IntoIterator<Item = &'a Metrics>) -> Option<Metrics> {
        let mut n = 0usize;
        let mut acc = [0.0f64; 4];
        for m in all {
            n += 1;
            acc[0] += m.dice;
            acc[1] += m.iou;
            acc[2] += m.precision;
            acc[3] += m.recall;
        }
        (n > 0).then(|| {
            let k = n as f64;
            Metrics { dice: acc[0] / k, iou: acc[1] / k, precision: acc[2] / k, recall: acc[3] / k }
        })
    }
}

/// ∂f/∂S for the sums a pixel's input influences (Σt and Σt² do not depend on it).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Coefficients {
    /// ∂f/∂Σp
    pub sp: f64,
    /// ∂f/∂Σpt
    pub tp: f64,
    /// ∂f/∂Σp²
    pub spp: f64,
    /// ∂f/∂Σ|p−t|
    pub sad: f64,
    /// ∂f/∂ΣBCE
    pub bce: f64,
    /// ∂f/∂ΣFocal
    pub focal: f64,
    /// ∂f/∂ΣWCE
    pub wce: f64,
    /// ∂f/∂Σmin(p, t): the soft true positives of `TpForm::SoftL1`, (Σp + Σt − Σ|p−t|)/2.
    /// Kept apart from `sp` and `sad` (whose halves would cancel in f32 where the score is
    /// near 0); a pixel's derivative is [p < t] (½ at p = t).
    pub smin: f64,
}

impl Coefficients {
    /// Every coefficient times `k`.
    pub fn scaled(&self, k: f64) -> Coefficients {
        Coefficients {
            sp: self.sp * k,
            tp: self.tp * k,
            spp: self.spp * k,
            sad: self.sad * k,
            bce: self.bce * k,
            focal: self.focal * k,
            wce: self.wce * k,
            smin: self.smin * k,
        }
    }

    /// The sum of two coefficient sets.
    pub fn plus(&self, o: &Coefficients) -> Coefficients {
        Coefficients {
            sp: self.sp + o.sp,
            tp: self.tp + o.tp,
            spp: self.spp + o.spp,
            sad: self.sad + o.sad,
            bce: self.bce + o.bce,
            focal: self.focal + o.focal,
            wce: self.wce + o.wce,
            smin: self.smin + o.smin,
        }
    }
}

/// One Lovasz problem's result: a segment (hinge) or a (segment, class) pair (softmax).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LovaszRow {
    /// Σ relu(e_sorted)·∇J.
    pub loss: f64,
    /// Valid (not ignored) pixels.
    pub valid: u64,
    /// Pixels labelled 1 (hinge: t ≥ 0.5; softmax: of this class).
    pub positives: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(seed: u64) -> Stats {
        // Sums with every bit of the mantissa in use; counts near the exact limit.
        let x = |k: u64| f64::from_bits(0x3ff0_0000_0000_0000 | (seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (12 + k)));
        Stats {
            sp: x(0),
            st: -x(1) * 1e300,
            tp: x(2) * 1e-300,
            spp: f64::from_bits(1),
            stt: x(4),
            sad: x(5),
            bce: x(6),
            focal: x(7),
            wce: x(8),
            count: Stats::MAX_EXACT_COUNT,
            hard_tp: Stats::MAX_EXACT_COUNT - 1,
            hard_fp: seed,
            hard_fn: 0,
        }
    }

    #[test]
    fn arrays_round_trip_bit_for_bit() {
        for seed in [1, 7, 123_456_789] {
            let s = sample(seed);
            let a = s.to_array();
            assert_eq!(a[9], s.count as f64);
            let back = Stats::from_array(&a).unwrap();
            assert_eq!(back, s);
            assert_eq!(back.to_array().map(f64::to_bits), a.map(f64::to_bits));
        }
    }

    #[test]
    fn arrays_with_a_count_that_is_not_one_are_refused_by_slot() {
        let good = sample(3).to_array();
        for (slot, bad) in [(9, -1.0), (10, 0.5), (11, f64::NAN), (12, f64::INFINITY), (9, 2f64.powi(53) + 2.0)] {
            let mut a = good;
            a[slot] = bad;
            let e = Stats::from_array(&a).unwrap_err().to_string();
            assert!(e.contains(&format!("slot {slot} ({})", Stats::ARRAY_NAMES[slot])), "{e}");
        }
    }
}
