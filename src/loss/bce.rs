//! Binary cross-entropy, stable from logits: `−[w·t'·ln p + (1−t')·ln(1−p)]`,
//! `t' = t·(1−s) + s/2`. The per-pixel term is the fused pass's; the loss is its mean or sum.

use super::common::{reduce, reduction_keyword, sum_flag, Reduction};
use super::{Catalogued, Family, Keywords, LossDef, SumLoss};
use crate::check::{invalid, non_negative};
use crate::error::Result;
use crate::finalize::FinalizeSpec;
use crate::gpu::contract::TERM_BCE;
use crate::input::Mode;
use crate::pixel::PixelClaims;
use crate::stats::{Coefficients, Stats};

/// Binary cross-entropy, stable from logits:
/// `−[w·t'·ln p + (1−t')·ln(1−p)]`, `t' = t·(1−s) + s/2`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bce {
    /// Weight w of the positive term (PyTorch's `pos_weight`).
    pub pos_weight: f64,
    /// Label smoothing s in [0, 1): targets move towards 1/2.
    pub label_smoothing: f64,
    /// Mean over valid pixels, or sum.
    pub reduction: Reduction,
}

impl Default for Bce {
    fn default() -> Self {
        Bce { pos_weight: 1.0, label_smoothing: 0.0, reduction: Reduction::Mean }
    }
}

impl Bce {
    /// The loss and its coefficients.
    pub(crate) fn value_and_coefficients(&self, s: &Stats) -> (f64, Coefficients) {
        reduce(s.bce, s, self.reduction, |c| Coefficients { bce: c, ..Default::default() })
    }

    /// The BCE keywords shared with BCE-Dice (reduction: mean).
    pub(crate) fn pixel_keywords(kw: &dyn Keywords) -> Result<Bce> {
        let d = Bce::default();
        Ok(Bce {
            pos_weight: kw.f64("pos_weight", d.pos_weight)?,
            label_smoothing: kw.f64("label_smoothing", d.label_smoothing)?,
            ..d
        })
    }
}

impl LossDef for Bce {
    fn validate(&self) -> Result<()> {
        non_negative("Bce", "pos_weight", self.pos_weight)?;
        if !(0.0..1.0).contains(&self.label_smoothing) {
            return Err(invalid("Bce", "label_smoothing", self.label_smoothing, "must be in [0, 1)"));
        }
        Ok(())
    }

    fn applies(&self, mode: Mode) -> bool {
        mode != Mode::Multiclass
    }

    fn claim_pixel_params(&self, claims: &mut PixelClaims) -> Result<()> {
        claims.bce(self.pos_weight, self.label_smoothing)
    }

    fn family(&self) -> Family<'_> {
        Family::Sums(self)
    }
}

impl SumLoss for Bce {
    fn backward_terms(&self) -> u32 {
        TERM_BCE
    }

    fn row(&self, s: &Stats) -> Option<(f64, Coefficients)> {
        Some(self.value_and_coefficients(s))
    }

    fn is_region(&self) -> bool {
        false
    }

    /// Per-pixel parameters are the fused pass's: only the reduction here.
    fn finalize(&self, _mode: Mode) -> std::result::Result<FinalizeSpec, String> {
        let Bce { pos_weight: _, label_smoothing: _, reduction } = *self;
        let mut spec = FinalizeSpec::new("BCE");
        spec.flags = sum_flag(reduction);
        Ok(spec)
    }
}

impl Catalogued for Bce {
    const NAME: &'static str = "bce";
    const KEYWORDS: &'static [&'static str] = &["pos_weight", "label_smoothing", "reduction"];
    const GPU_KINDS: &'static [&'static str] = &["BCE"];

    fn from_keywords(kw: &dyn Keywords) -> Result<Self> {
        Ok(Bce { reduction: reduction_keyword(kw)?, ..Bce::pixel_keywords(kw)? })
    }

    fn examples() -> Vec<Self> {
        let d = Bce::default();
        vec![
            d,
            Bce { pos_weight: 3.0, ..d },
            Bce { label_smoothing: 0.1, ..d },
            Bce { reduction: Reduction::Sum, pos_weight: 0.5, ..d },
        ]
    }
}
