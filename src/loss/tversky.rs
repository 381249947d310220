//! Tversky and focal Tversky loss: `(1 − T)^γ`,
//! `T = (TP + smooth) / max(TP + α·FP + β·FN + smooth_dr, eps)`.

use super::common::{f, log_loss, power, ratio, region_flags, region_terms, TpForm};
use super::segment::{class_mean, SegmentLoss};
use super::{Catalogued, Family, Keywords, LossDef, SumLoss};
use crate::check::{invalid, non_negative, positive_sum};
use crate::error::Result;
use crate::finalize::FinalizeSpec;
use crate::input::Mode;
use crate::options::ClassOptions;
use crate::stats::{Coefficients, Stats};

/// Tversky loss `(1 − T)^γ`, `T = (TP + smooth) / max(TP + α·FP + β·FN + smooth_dr, eps)`
/// (`smooth_dr` defaults to `smooth`); γ ≠ 1 is the focal Tversky loss. With α = β = 0.5 it
/// is smp's Dice score, with α = β = 1 its Jaccard score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tversky {
    /// Weight of the false positives (seed: 0.5).
    pub alpha: f64,
    /// Weight of the false negatives (seed: 0.5).
    pub beta: f64,
    /// Added to the numerator, and to the denominator unless `smooth_dr` is set (seed: 1).
    pub smooth: f64,
    /// Lower clamp of the denominator (and of the score under `log_loss`).
    pub eps: f64,
    /// Focal exponent (1 = plain Tversky).
    pub gamma: f64,
    /// Added to the denominator instead of `smooth` (MONAI's `smooth_dr`, kornia's `eps`).
    pub smooth_dr: Option<f64>,
    /// How TP is formed (smp: `SoftL1`).
    pub tp_form: TpForm,
    /// Loss is −ln(max(T, eps)) instead of 1 − T (before γ).
    pub log_loss: bool,
    /// Apply γ to the class mean, `(mean_c loss_c)^γ` (smp), instead of to each class's loss.
    pub gamma_after_class_mean: bool,
    /// FP and FN from Σp² and Σt² instead of Σp and Σt (MONAI `squared_pred` with `jaccard`).
    pub squared: bool,
}

impl Default for Tversky {
    fn default() -> Self {
        Tversky {
            alpha: 0.5,
            beta: 0.5,
            smooth: 1.0,
            eps: 1e-7,
            gamma: 1.0,
            smooth_dr: None,
            tp_form: TpForm::Product,
            log_loss: false,
            gamma_after_class_mean: false,
            squared: false,
        }
    }
}

impl Tversky {
    /// The loss before the exponent γ (1 − T, or −ln T) and its coefficients.
    fn base_value_and_coefficients(&self, s: &Stats) -> (f64, Coefficients) {
        let (a, b) = (self.alpha, self.beta);
        let (tp, dtp) = self.tp_form.true_positives(s);
        let num = tp + self.smooth;
        // TP + α(SP − TP) + β(ST − TP) + smooth_dr (squared: Σp², Σt² for SP, ST)
        let (sp, st, dsp) = if self.squared {
            (s.spp, s.stt, Coefficients { spp: a, ..Default::default() })
        } else {
            (s.sp, s.st, Coefficients { sp: a, ..Default::default() })
        };
        let den = tp + a * (sp - tp) + b * (st - tp) + self.smooth_dr.unwrap_or(self.smooth);
        let dden = dtp.scaled(1.0 - a - b).plus(&dsp);
        let (t, dt) = ratio(num, dtp, den, dden, self.eps);
        if self.log_loss {
            return log_loss(t, dt, self.eps);
        }
        // 1 − T may round below 0 when T = 1; the coefficient is kept.
        ((1.0 - t).max(0.0), dt.scaled(-1.0))
    }

    fn gamma_after_mean(&self) -> bool {
        self.gamma_after_class_mean && self.gamma != 1.0
    }
}

impl LossDef for Tversky {
    fn validate(&self) -> Result<()> {
        non_negative("Tversky", "alpha", self.alpha)?;
        non_negative("Tversky", "beta", self.beta)?;
        non_negative("Tversky", "smooth", self.smooth)?;
        non_negative("Tversky", "eps", self.eps)?;
        let dr = self.smooth_dr.unwrap_or(self.smooth);
        non_negative("Tversky", "smooth_dr", dr)?;
        positive_sum("Tversky", "smooth", dr, self.eps)?;
        if !(self.gamma.is_finite() && self.gamma > 0.0) {
            return Err(invalid("Tversky", "gamma", self.gamma, "must be finite and > 0"));
        }
        Ok(())
    }

    fn label(&self) -> Option<&'static str> {
        (self.gamma != 1.0).then_some("focal_tversky")
    }

    fn family(&self) -> Family<'_> {
        Family::Sums(self)
    }
}

impl SumLoss for Tversky {
    fn backward_terms(&self) -> u32 {
        region_terms(self.tp_form, self.squared)
    }

    fn row(&self, s: &Stats) -> Option<(f64, Coefficients)> {
        let (base, d) = self.base_value_and_coefficients(s);
        if self.gamma == 1.0 || self.gamma_after_class_mean {
            return Some((base, d));
        }
        Some(power(base, d, self.gamma))
    }

    /// smp: `(mean_c loss_c)^γ`.
    fn segment(&self, rows: &[Stats], opts: &ClassOptions, _mode: Mode) -> Option<Option<SegmentLoss>> {
        if !self.gamma_after_mean() {
            return None;
        }
        let base = Tversky { gamma: 1.0, ..*self };
        Some(class_mean(&base, rows, opts).map(|(v, coefs)| {
            let slope = if v > 0.0 { self.gamma * v.powf(self.gamma - 1.0) } else { 0.0 };
            (v.powf(self.gamma), coefs.iter().map(|c| c.scaled(slope)).collect())
        }))
    }

    /// p0 = α, p1 = β, p2 = eps, p3 = smooth, p4 = γ, p5 = smooth_dr.
    fn finalize(&self, _mode: Mode) -> std::result::Result<FinalizeSpec, String> {
        let Tversky {
            alpha,
            beta,
            smooth,
            eps,
            gamma,
            smooth_dr,
            tp_form,
            log_loss,
            gamma_after_class_mean: _,
            squared,
        } = *self;
        if self.gamma_after_mean() {
            return Err("Tversky with gamma_after_class_mean".into());
        }
        let mut spec = FinalizeSpec::new("TVERSKY");
        spec.flags = region_flags(log_loss, squared, tp_form);
        let dr = smooth_dr.unwrap_or(smooth);
        spec.p[..6].copy_from_slice(&[f(alpha), f(beta), f(eps), f(smooth), f(gamma), f(dr)]);
        Ok(spec)
    }
}

impl Catalogued for Tversky {
    const NAME: &'static str = "tversky";
    const KEYWORDS: &'static [&'static str] = &["alpha", "beta", "smooth", "eps", "gamma"];
    const GPU_KINDS: &'static [&'static str] = &["TVERSKY"];

    fn from_keywords(kw: &dyn Keywords) -> Result<Self> {
        let d = Tversky::default();
        Ok(Tversky {
            alpha: kw.f64("alpha", d.alpha)?,
            beta: kw.f64("beta", d.beta)?,
            smooth: kw.f64("smooth", d.smooth)?,
            eps: kw.f64("eps", d.eps)?,
            gamma: kw.f64("gamma", d.gamma)?,
            ..d
        })
    }

    fn examples() -> Vec<Self> {
        let d = Tversky::default();
        vec![
            d,
            Tversky { alpha: 0.3, beta: 0.7, ..d },
            Tversky { alpha: 0.7, beta: 0.3, gamma: 0.75, ..d },
            Tversky { gamma: 2.0, smooth: 0.0, smooth_dr: Some(1e-5), ..d },
            Tversky { tp_form: TpForm::SoftL1, log_loss: true, ..d },
            Tversky { squared: true, alpha: 1.0, beta: 1.0, ..d },
            Tversky { gamma: 2.0, gamma_after_class_mean: true, ..d },
        ]
    }
}
