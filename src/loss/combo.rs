//! Combo loss (Taghanaki et al. 2019): `α·WCE_β − (1−α)·Dice`; in multiclass mode
//! `α·CE − (1−α)·(mean Dice score)`.

use super::common::{f, reduce, Reduction};
use super::cross_entropy::cross_entropy;
use super::segment::{classwise, combine_defined, SegmentLoss};
use super::{Catalogued, Dice, Family, Keywords, LossDef, SumLoss};
use crate::check::{non_negative, positive_sum, unit_interval};
use crate::error::Result;
use crate::finalize::FinalizeSpec;
use crate::gpu::contract::{TERM_BCE, TERM_WCE};
use crate::input::Mode;
use crate::options::ClassOptions;
use crate::pixel::PixelClaims;
use crate::stats::{Coefficients, Stats};

/// Combo loss (Taghanaki et al. 2019): `α·WCE_β − (1−α)·Dice`, with
/// `WCE_β = mean[−β·t·ln p − (1−β)(1−t)·ln(1−p)]` and the Dice score
/// `(2TP + smooth)/max(Σp + Σt + smooth, eps)`. It subtracts the score, so it can be negative.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Combo {
    /// α: the share of the cross-entropy term (seed `CE_RATIO`: 0.5).
    pub ce_ratio: f64,
    /// β: the weight of positives inside the cross-entropy (seed `ALPHA`: 0.5).
    pub beta: f64,
    /// Dice smoothing (seed: 1).
    pub smooth: f64,
    /// Lower clamp of the Dice denominator.
    pub eps: f64,
}

impl Default for Combo {
    fn default() -> Self {
        Combo { ce_ratio: 0.5, beta: 0.5, smooth: 1.0, eps: 1e-7 }
    }
}

impl Combo {
    fn dice(&self) -> Dice {
        Dice { eps: self.eps, ..Dice::default().smooth(self.smooth) }
    }

    /// α·CE − (1−α)·(mean Dice score) = α·CE + (1−α)·DiceLoss − (1−α).
    fn multiclass_segment(&self, rows: &[Stats], opts: &ClassOptions) -> Option<SegmentLoss> {
        let a = self.ce_ratio;
        let d = classwise(&self.dice(), rows, opts);
        let has_dice = d.is_some();
        let e = cross_entropy(0.0, Reduction::Mean, rows, opts);
        let (v, c) = combine_defined(1.0 - a, d, a, e, rows.len())?;
        Some((if has_dice { v - (1.0 - a) } else { v }, c))
    }
}

impl LossDef for Combo {
    fn validate(&self) -> Result<()> {
        unit_interval("Combo", "ce_ratio", self.ce_ratio)?;
        unit_interval("Combo", "beta", self.beta)?;
        non_negative("Combo", "smooth", self.smooth)?;
        non_negative("Combo", "eps", self.eps)?;
        positive_sum("Combo", "smooth", self.smooth, self.eps)
    }

    fn claim_pixel_params(&self, claims: &mut PixelClaims) -> Result<()> {
        claims.wce(self.beta)
    }

    fn family(&self) -> Family<'_> {
        Family::Sums(self)
    }
}

impl SumLoss for Combo {
    fn backward_terms(&self) -> u32 {
        TERM_BCE | TERM_WCE | self.dice().backward_terms()
    }

    fn row(&self, s: &Stats) -> Option<(f64, Coefficients)> {
        let (wce, dwce) = reduce(s.wce, s, Reduction::Mean, |c| Coefficients { wce: c, ..Default::default() });
        let (dice, ddice) = self.dice().score(s);
        let a = self.ce_ratio;
        Some((a * wce - (1.0 - a) * dice, dwce.scaled(a).plus(&ddice.scaled(-(1.0 - a)))))
    }

    fn segment(&self, rows: &[Stats], opts: &ClassOptions, mode: Mode) -> Option<Option<SegmentLoss>> {
        (mode == Mode::Multiclass).then(|| self.multiclass_segment(rows, opts))
    }

    /// p0 = p1 = smooth, p2 = eps, p3 = α (β is the fused pass's).
    fn finalize(&self, mode: Mode) -> std::result::Result<FinalizeSpec, String> {
        let Combo { ce_ratio, beta: _, smooth, eps } = *self;
        let mut spec = FinalizeSpec::new(if mode == Mode::Multiclass { "COMBO_MC" } else { "COMBO" });
        spec.p[..4].copy_from_slice(&[f(smooth), f(smooth), f(eps), f(ce_ratio)]);
        Ok(spec)
    }
}

impl Catalogued for Combo {
    const NAME: &'static str = "combo";
    const KEYWORDS: &'static [&'static str] = &["ce_ratio", "beta", "smooth", "eps"];
    const GPU_KINDS: &'static [&'static str] = &["COMBO", "COMBO_MC"];

    fn from_keywords(kw: &dyn Keywords) -> Result<Self> {
        let d = Combo::default();
        Ok(Combo {
            ce_ratio: kw.f64("ce_ratio", d.ce_ratio)?,
            beta: kw.f64("beta", d.beta)?,
            smooth: kw.f64("smooth", d.smooth)?,
            eps: kw.f64("eps", d.eps)?,
        })
    }

    fn examples() -> Vec<Self> {
        let d = Combo::default();
        vec![d, Combo { ce_ratio: 0.7, beta: 0.3, ..d }, Combo { smooth: 0.0, eps: 1e-6, ce_ratio: 0.2, ..d }]
    }
}
