//! Generalized Dice (Sudre et al. 2017): class weights from each class's true-pixel count.

use super::common::{f, region_flags, region_terms, TpForm};
use super::segment::SegmentLoss;
use super::{Catalogued, Family, Keywords, LossDef, SumLoss};
use crate::check::{non_negative, positive_sum};
use crate::error::Result;
use crate::finalize::{FinalizeSpec, T_GDL_SIMPLE, T_GDL_UNIFORM};
use crate::input::Mode;
use crate::options::ClassOptions;
use crate::stats::{Coefficients, Stats};

/// How Generalized Dice weighs a class from its true-pixel count Σt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GdlWeighting {
    /// w = 1/(Σt)² (Sudre et al.; MONAI `w_type="square"`).
    #[default]
    Square,
    /// w = 1/Σt.
    Simple,
    /// w = 1.
    Uniform,
}

/// Generalized Dice (Sudre et al. 2017):
/// `1 − (2·Σ_c w_c·TP_c + smooth_nr) / (Σ_c w_c·(Σp_c + Σt_c) + smooth_dr)`; an absent
/// class (Σt = 0) gets the largest finite weight of the segment (1 if none is finite).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GeneralizedDice {
    /// Class weighting.
    pub weighting: GdlWeighting,
    /// Added to the numerator (MONAI: 1e-5).
    pub smooth_nr: f64,
    /// Added to the denominator (MONAI: 1e-5); must be > 0.
    pub smooth_dr: f64,
    /// How TP is formed (MONAI `soft_label=True`: `SoftL1`).
    pub tp_form: TpForm,
    /// The weight of every class when no class of the segment has a true pixel (no finite
    /// weight): 1 (default), or 0 as MONAI, whose loss is then 1 − smooth_nr/smooth_dr.
    pub all_absent_weight: f64,
}

impl Default for GeneralizedDice {
    fn default() -> Self {
        GeneralizedDice {
            weighting: GdlWeighting::Square,
            smooth_nr: 1e-5,
            smooth_dr: 1e-5,
            tp_form: TpForm::Product,
            all_absent_weight: 1.0,
        }
    }
}

impl GeneralizedDice {
    fn segment_value(&self, rows: &[Stats], opts: &ClassOptions) -> Option<SegmentLoss> {
        let selected = opts.selected(rows.len());
        if selected.is_empty() {
            return None;
        }
        let raw = |st: f64| match self.weighting {
            GdlWeighting::Square => 1.0 / (st * st),
            GdlWeighting::Simple => 1.0 / st,
            GdlWeighting::Uniform => 1.0,
        };
        let finite_max = selected.iter().map(|&k| raw(rows[k].st)).filter(|w| w.is_finite()).fold(f64::NAN, f64::max);
        let weight = |k: usize| {
            let w = raw(rows[k].st);
            if w.is_finite() {
                w
            } else if finite_max.is_finite() {
                finite_max
            } else {
                self.all_absent_weight
            }
        };
        let (mut num, mut den) = (self.smooth_nr, self.smooth_dr);
        for &k in &selected {
            num += 2.0 * weight(k) * self.tp_form.true_positives(&rows[k]).0;
            den += weight(k) * (rows[k].sp + rows[k].st);
        }
        let mut coefs = vec![Coefficients::default(); rows.len()];
        for &k in &selected {
            let w = weight(k);
            // loss = 1 − num/den: ∂/∂TP_k = −2w/den, ∂/∂SP_k = num·w/den².
            let sp = num * w / (den * den);
            let dtp = self.tp_form.true_positives(&rows[k]).1.scaled(-2.0 * w / den);
            coefs[k] = dtp.plus(&Coefficients { sp, ..Default::default() });
        }
        Some((1.0 - num / den, coefs))
    }
}

impl LossDef for GeneralizedDice {
    fn validate(&self) -> Result<()> {
        non_negative("GeneralizedDice", "smooth_nr", self.smooth_nr)?;
        non_negative("GeneralizedDice", "smooth_dr", self.smooth_dr)?;
        non_negative("GeneralizedDice", "all_absent_weight", self.all_absent_weight)?;
        positive_sum("GeneralizedDice", "smooth_dr", self.smooth_dr, 0.0)
    }

    fn check_classes(&self, classes: &ClassOptions) -> std::result::Result<(), String> {
        match classes.weights {
            Some(_) => Err("Generalized Dice computes its own class weights".into()),
            None => Ok(()),
        }
    }

    fn family(&self) -> Family<'_> {
        Family::Sums(self)
    }
}

impl SumLoss for GeneralizedDice {
    fn backward_terms(&self) -> u32 {
        region_terms(self.tp_form, false)
    }

    fn row(&self, _s: &Stats) -> Option<(f64, Coefficients)> {
        None
    }

    fn segment(&self, rows: &[Stats], opts: &ClassOptions, _mode: Mode) -> Option<Option<SegmentLoss>> {
        Some(self.segment_value(rows, opts))
    }

    /// p0 = smooth_nr, p1 = smooth_dr, p2 = all_absent_weight; the weighting in the flags.
    fn finalize(&self, _mode: Mode) -> std::result::Result<FinalizeSpec, String> {
        let GeneralizedDice { weighting, smooth_nr, smooth_dr, tp_form, all_absent_weight } = *self;
        let mut spec = FinalizeSpec::new("GDL");
        spec.flags = region_flags(false, false, tp_form)
            | match weighting {
                GdlWeighting::Square => 0,
                GdlWeighting::Simple => T_GDL_SIMPLE,
                GdlWeighting::Uniform => T_GDL_UNIFORM,
            };
        spec.p[..3].copy_from_slice(&[f(smooth_nr), f(smooth_dr), f(all_absent_weight)]);
        Ok(spec)
    }
}

impl Catalogued for GeneralizedDice {
    const NAME: &'static str = "generalized_dice";
    const KEYWORDS: &'static [&'static str] = &["smooth_nr", "smooth_dr"];
    const GPU_KINDS: &'static [&'static str] = &["GDL"];

    fn from_keywords(kw: &dyn Keywords) -> Result<Self> {
        let d = GeneralizedDice::default();
        Ok(GeneralizedDice {
            smooth_nr: kw.f64("smooth_nr", d.smooth_nr)?,
            smooth_dr: kw.f64("smooth_dr", d.smooth_dr)?,
            ..d
        })
    }

    fn examples() -> Vec<Self> {
        let d = GeneralizedDice::default();
        vec![
            d,
            GeneralizedDice { weighting: GdlWeighting::Simple, tp_form: TpForm::SoftL1, ..d },
            GeneralizedDice { weighting: GdlWeighting::Uniform, smooth_nr: 0.0, smooth_dr: 1.0, ..d },
            GeneralizedDice { all_absent_weight: 0.0, ..d },
        ]
    }
}
