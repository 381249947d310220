//! Pieces several losses share: how TP is formed, the pixel reduction, the clamped ratio and
//! the power with their derivatives, and the finalize flags they imply.

use crate::finalize::{T_LOG, T_SOFT_TP, T_SQUARED, T_SUM};
use crate::stats::{Coefficients, Stats};

/// How the numerator's true-positive term of Dice is formed from the sums.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TpForm {
    /// TP = Σ p·t (the seed, MONAI's default).
    #[default]
    Product,
    /// TP = (Σp + Σt − Σ|p−t|)/2: equal to Σ p·t for hard targets, Σ min(p,t) for soft
    /// ones (smp, MONAI `soft_label=True`).
    SoftL1,
}

/// The region terms a loss with this TP form and denominator needs in the backward pass
/// (`TERM_SMIN` for the soft-L1 TP, `TERM_SPP` for the squared denominator).
pub(crate) fn region_terms(tp_form: TpForm, squared: bool) -> u32 {
    use crate::gpu::contract::{TERM_SMIN, TERM_SPP};
    let tp = match tp_form {
        TpForm::Product => 0,
        TpForm::SoftL1 => TERM_SMIN,
    };
    tp | if squared { TERM_SPP } else { 0 }
}

impl TpForm {
    /// TP of the segment and ∂TP/∂S.
    pub(crate) fn true_positives(self, s: &Stats) -> (f64, Coefficients) {
        match self {
            TpForm::Product => (s.tp, Coefficients { tp: 1.0, ..Default::default() }),
            TpForm::SoftL1 => ((s.sp + s.st - s.sad) / 2.0, Coefficients { smin: 1.0, ..Default::default() }),
        }
    }
}

/// Whether a pixel-wise loss is averaged over the valid pixels or summed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reduction {
    /// Mean over the valid pixels of the segment.
    #[default]
    Mean,
    /// Sum over the valid pixels of the segment.
    Sum,
}

/// `num/max(den, eps)` and its derivative from those of `num` and `den`; the clamp, when
/// active, makes the denominator a constant.
pub(crate) fn ratio(num: f64, dnum: Coefficients, den: f64, dden: Coefficients, eps: f64) -> (f64, Coefficients) {
    if den > eps {
        (num / den, dnum.scaled(1.0 / den).plus(&dden.scaled(-num / (den * den))))
    } else {
        (num / eps, dnum.scaled(1.0 / eps))
    }
}

/// A pixel-wise sum turned into a mean over the valid pixels or kept as a sum.
pub(crate) fn reduce(sum: f64, s: &Stats, r: Reduction, coeff: impl Fn(f64) -> Coefficients) -> (f64, Coefficients) {
    let scale = match r {
        Reduction::Mean => 1.0 / s.count.max(1) as f64,
        Reduction::Sum => 1.0,
    };
    (sum * scale, coeff(scale))
}

/// `v^γ` and its coefficients from those of v ≥ 0; at v = 0 (the minimum) the slope is taken as 0.
pub(crate) fn power(v: f64, d: Coefficients, gamma: f64) -> (f64, Coefficients) {
    let slope = if v > 0.0 { gamma * v.powf(gamma - 1.0) } else { 0.0 };
    (v.powf(gamma), d.scaled(slope))
}

/// `−ln max(score, eps)` and its coefficients (zero where the clamp is active).
pub(crate) fn log_loss(score: f64, d: Coefficients, eps: f64) -> (f64, Coefficients) {
    if score > eps {
        (-score.ln(), d.scaled(-1.0 / score))
    } else {
        (-eps.ln(), Coefficients::default())
    }
}

/// Finalize flags of the region-loss options.
pub(crate) fn region_flags(log: bool, squared: bool, tp: TpForm) -> u32 {
    (if log { T_LOG } else { 0 })
        | (if squared { T_SQUARED } else { 0 })
        | (if tp == TpForm::SoftL1 { T_SOFT_TP } else { 0 })
}

/// The finalize flag of a reduction.
pub(crate) fn sum_flag(r: Reduction) -> u32 {
    if r == Reduction::Sum {
        T_SUM
    } else {
        0
    }
}

/// A reduction keyword (`mean` or `sum`).
pub(crate) fn reduction_keyword(kw: &dyn super::Keywords) -> crate::error::Result<Reduction> {
    Ok(if kw.choice("reduction", "mean", &["mean", "sum"])? == "sum" { Reduction::Sum } else { Reduction::Mean })
}

/// f64 → f32 for the finalize record.
pub(crate) fn f(v: f64) -> f32 {
    v as f32
}
