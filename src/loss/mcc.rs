//! Matthews correlation coefficient loss (Abhishek & Hamarneh 2021): `1 − MCC` of the soft
//! confusion matrix TP = Σpt, FP = Σp − TP, FN = Σt − TP, TN = n − Σp − Σt + TP, each plus
//! `eps`:
//!
//! `MCC = (TP·TN − FP·FN + smooth_nr) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN) + smooth_dr)`.
//!
//! MONAI's `MCCLoss` is the default (eps 0, smooth_nr 0, smooth_dr 1e-5, a segment with
//! FP = FN = 0 scores a loss of 0); smp's `MCCLoss` adds eps = 1e-5 to each entry and has no
//! smoothing nor perfect-segment rule.
//!
//! Derivatives: with a = Σpt, ∂TP/∂a = ∂TN/∂a = 1, ∂FP/∂a = ∂FN/∂a = −1, so every factor of the
//! product is free of a and ∂num/∂a = TP + TN + FP + FN; with Σp, ∂FP = 1, ∂TN = −1, so
//! ∂num/∂Σp = −(TP + FN) and ∂P/∂Σp = (TP+FN)(TN+FP)·((TN+FN) − (TP+FP)) (see `coefficients`).

use super::common::f;
use super::{Catalogued, Family, Keywords, LossDef, SumLoss};
use crate::check::non_negative;
use crate::error::Result;
use crate::finalize::{FinalizeSpec, T_MCC_PERFECT};
use crate::input::Mode;
use crate::stats::{Coefficients, Stats};

/// Matthews correlation coefficient loss `1 − MCC` of the soft confusion matrix.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mcc {
    /// Added to each of TP, TN, FP and FN (smp: 1e-5).
    pub eps: f64,
    /// Added to the numerator (MONAI's smooth_nr).
    pub smooth_nr: f64,
    /// Added under the square root (MONAI's smooth_dr).
    pub smooth_dr: f64,
    /// A segment with FP = FN = 0 (before `eps`) has loss 0 and no gradient (MONAI).
    pub perfect_is_zero: bool,
}

impl Default for Mcc {
    /// MONAI's defaults.
    fn default() -> Self {
        Mcc { eps: 0.0, smooth_nr: 0.0, smooth_dr: 1e-5, perfect_is_zero: true }
    }
}

impl Mcc {
    /// smp's `MCCLoss(eps)`.
    pub fn smp(eps: f64) -> Self {
        Mcc { eps, smooth_nr: 0.0, smooth_dr: 0.0, perfect_is_zero: false }
    }
}

impl LossDef for Mcc {
    fn validate(&self) -> Result<()> {
        non_negative("Mcc", "eps", self.eps)?;
        non_negative("Mcc", "smooth_nr", self.smooth_nr)?;
        non_negative("Mcc", "smooth_dr", self.smooth_dr)?;
        if self.eps == 0.0 && self.smooth_dr == 0.0 {
            return Err(crate::check::invalid(
                "Mcc",
                "smooth_dr",
                0.0,
                "with eps = 0 must be > 0 (the denominator of an empty or full segment is 0)",
            ));
        }
        Ok(())
    }

    fn family(&self) -> Family<'_> {
        Family::Sums(self)
    }
}

/// ∂(1 − MCC) per pixel: g0 = ∂L/∂Σp for a pixel with t = 0 and g1 = ∂L/∂Σp + ∂L/∂Σpt for
/// t = 1, from ∂num/∂Σp = −(TP + FN), ∂num/∂Σpt = n + 4·eps = f2 + f3 and
/// ∂P/∂Σp = f2·f3·(f4 − f1):
///   g0 = f2·(1/den + mcc·f3·(f4 − f1)/(2·den²)),  g1 = f3·(−1/den + mcc·f2·(f4 − f1)/(2·den²)).
/// A soft target t gives g0 + (g1 − g0)·t: `sp` = g0, `tp` = g1 − g0. Where every target is 1
/// (Σt = n) or 0 (Σt = 0) only one of them applies and it is carried alone by `sp` (tp = 0): the
/// other can be of the order n/sqrt(smooth_dr) (a vanishing factor) and would otherwise cancel
/// in f32 against the one that applies, and against every other term's coefficients.
fn coefficients(mcc: f64, den: f64, [f1, f2, f3, f4]: [f64; 4], st: f64, n: f64) -> Coefficients {
    let slope = mcc * (f4 - f1) / (2.0 * den * den);
    let g0 = f2 * (1.0 / den + slope * f3);
    let g1 = f3 * (-1.0 / den + slope * f2);
    let (sp, tp) = if st == n {
        (g1, 0.0)
    } else if st == 0.0 {
        (g0, 0.0)
    } else {
        (g0, g1 - g0)
    };
    Coefficients { sp, tp, ..Default::default() }
}

impl SumLoss for Mcc {
    fn backward_terms(&self) -> u32 {
        0
    }

    fn row(&self, s: &Stats) -> Option<(f64, Coefficients)> {
        let e = self.eps;
        let (fp, fn_) = (s.fp(), s.fn_());
        if self.perfect_is_zero && fp == 0.0 && fn_ == 0.0 {
            return Some((0.0, Coefficients::default()));
        }
        let (tp, tn, fp, fn_) = (s.tp + e, s.tn() + e, fp + e, fn_ + e);
        let num = tp * tn - fp * fn_ + self.smooth_nr;
        // The factors from the sums that form them exactly: TP + FP = Σp, TP + FN = Σt,
        // TN + FP = n − Σt, TN + FN = n − Σp (each + 2·eps); in f32 (finalize.wgsl) an empty
        // or full target then gives an exact 0, not a rounding residue.
        let n = s.count as f64;
        let (f1, f2, f3, f4) = (s.sp + 2.0 * e, s.st + 2.0 * e, n - s.st + 2.0 * e, n - s.sp + 2.0 * e);
        let den = (f1 * f2 * f3 * f4 + self.smooth_dr).sqrt();
        let mcc = num / den;
        Some((1.0 - mcc, coefficients(mcc, den, [f1, f2, f3, f4], s.st, n)))
    }

    /// p0 = eps, p1 = smooth_nr, p2 = smooth_dr; `T_MCC_PERFECT`.
    fn finalize(&self, _mode: Mode) -> std::result::Result<FinalizeSpec, String> {
        let Mcc { eps, smooth_nr, smooth_dr, perfect_is_zero } = *self;
        let mut spec = FinalizeSpec::new("MCC");
        (spec.p[0], spec.p[1], spec.p[2]) = (f(eps), f(smooth_nr), f(smooth_dr));
        if perfect_is_zero {
            spec.flags |= T_MCC_PERFECT;
        }
        Ok(spec)
    }
}

impl Catalogued for Mcc {
    const NAME: &'static str = "mcc";
    const KEYWORDS: &'static [&'static str] = &["eps", "smooth_nr", "smooth_dr", "perfect_is_zero"];
    const GPU_KINDS: &'static [&'static str] = &["MCC"];

    fn from_keywords(kw: &dyn Keywords) -> Result<Self> {
        let d = Mcc::default();
        Ok(Mcc {
            eps: kw.f64("eps", d.eps)?,
            smooth_nr: kw.f64("smooth_nr", d.smooth_nr)?,
            smooth_dr: kw.f64("smooth_dr", d.smooth_dr)?,
            perfect_is_zero: kw.bool("perfect_is_zero", d.perfect_is_zero)?,
        })
    }

    fn examples() -> Vec<Self> {
        vec![Mcc::default(), Mcc::smp(1e-5), Mcc { eps: 0.5, smooth_nr: 1.0, smooth_dr: 1.0, perfect_is_zero: false }]
    }
}
