//! Dice loss: `1 − (2·TP + smooth_nr) / max(Σp + Σt + smooth_dr, eps)`.

use super::common::{f, log_loss, ratio, region_flags, region_terms, TpForm};
use super::{Catalogued, Family, Keywords, LossDef, SumLoss};
use crate::check::{non_negative, positive_sum};
use crate::error::Result;
use crate::finalize::FinalizeSpec;
use crate::input::Mode;
use crate::stats::{Coefficients, Stats};

/// Dice loss: `1 − (2·TP + smooth_nr) / max(Σp + Σt + smooth_dr, eps)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dice {
    /// Added to the numerator (seed: 1).
    pub smooth_nr: f64,
    /// Added to the denominator (seed: 1).
    pub smooth_dr: f64,
    /// Lower clamp of the denominator (and of the score under `log_loss`).
    pub eps: f64,
    /// Use Σp² + Σt² in the denominator (Milletari et al.'s V-Net form).
    pub squared: bool,
    /// Loss is −ln(max(Dice, eps)) instead of 1 − Dice.
    pub log_loss: bool,
    /// How TP is formed.
    pub tp_form: TpForm,
}

impl Default for Dice {
    fn default() -> Self {
        Dice { smooth_nr: 1.0, smooth_dr: 1.0, eps: 1e-7, squared: false, log_loss: false, tp_form: TpForm::Product }
    }
}

impl Dice {
    /// Sets both smoothing terms.
    pub fn smooth(mut self, smooth: f64) -> Self {
        self.smooth_nr = smooth;
        self.smooth_dr = smooth;
        self
    }

    /// The Dice score (not the loss) and its partial derivatives.
    pub(crate) fn score(&self, s: &Stats) -> (f64, Coefficients) {
        let (tp, dtp) = self.tp_form.true_positives(s);
        let (den, dden) = if self.squared {
            (s.spp + s.stt, Coefficients { spp: 1.0, ..Default::default() })
        } else {
            (s.sp + s.st, Coefficients { sp: 1.0, ..Default::default() })
        };
        ratio(2.0 * tp + self.smooth_nr, dtp.scaled(2.0), den + self.smooth_dr, dden, self.eps)
    }

    /// The loss and its coefficients.
    pub(crate) fn value_and_coefficients(&self, s: &Stats) -> (f64, Coefficients) {
        let (d, dd) = self.score(s);
        if self.log_loss {
            log_loss(d, dd, self.eps)
        } else {
            (1.0 - d, dd.scaled(-1.0))
        }
    }

    /// The finalize record of the Dice part (also of BCE-Dice and Dice + CE): flags and
    /// p0 = smooth_nr, p1 = smooth_dr, p2 = eps.
    pub(crate) fn finalize_part(&self, kind: &'static str) -> FinalizeSpec {
        let Dice { smooth_nr, smooth_dr, eps, squared, log_loss, tp_form } = *self;
        let mut spec = FinalizeSpec::new(kind);
        spec.flags = region_flags(log_loss, squared, tp_form);
        spec.p[..3].copy_from_slice(&[f(smooth_nr), f(smooth_dr), f(eps)]);
        spec
    }

    /// The Dice keywords of the command line (`smooth` sets both smoothing terms).
    pub(crate) fn smooth_keyword(kw: &dyn Keywords) -> Result<Dice> {
        let d = Dice::default();
        Ok(d.smooth(kw.f64("smooth", d.smooth_nr)?))
    }
}

impl LossDef for Dice {
    fn validate(&self) -> Result<()> {
        non_negative("Dice", "smooth_nr", self.smooth_nr)?;
        non_negative("Dice", "smooth_dr", self.smooth_dr)?;
        non_negative("Dice", "eps", self.eps)?;
        positive_sum("Dice", "smooth_dr", self.smooth_dr, self.eps)
    }

    fn family(&self) -> Family<'_> {
        Family::Sums(self)
    }
}

impl SumLoss for Dice {
    fn backward_terms(&self) -> u32 {
        region_terms(self.tp_form, self.squared)
    }

    fn row(&self, s: &Stats) -> Option<(f64, Coefficients)> {
        Some(self.value_and_coefficients(s))
    }

    fn finalize(&self, _mode: Mode) -> std::result::Result<FinalizeSpec, String> {
        Ok(self.finalize_part("DICE"))
    }
}

impl Catalogued for Dice {
    const NAME: &'static str = "dice";
    const KEYWORDS: &'static [&'static str] =
        &["smooth", "smooth_nr", "smooth_dr", "eps", "squared", "log_loss", "soft_tp"];
    const GPU_KINDS: &'static [&'static str] = &["DICE"];

    fn from_keywords(kw: &dyn Keywords) -> Result<Self> {
        let d = Dice::smooth_keyword(kw)?;
        Ok(Dice {
            smooth_nr: kw.f64("smooth_nr", d.smooth_nr)?,
            smooth_dr: kw.f64("smooth_dr", d.smooth_dr)?,
            eps: kw.f64("eps", d.eps)?,
            squared: kw.bool("squared", d.squared)?,
            log_loss: kw.bool("log_loss", d.log_loss)?,
            tp_form: if kw.bool("soft_tp", d.tp_form == TpForm::SoftL1)? { TpForm::SoftL1 } else { TpForm::Product },
        })
    }

    fn examples() -> Vec<Self> {
        let d = Dice::default();
        vec![
            d,
            d.smooth(0.0),
            Dice { smooth_nr: 0.0, smooth_dr: 1e-5, ..d },
            Dice { squared: true, ..d },
            Dice { log_loss: true, ..d },
            Dice { tp_form: TpForm::SoftL1, ..d },
        ]
    }
}
