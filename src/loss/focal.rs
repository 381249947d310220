//! Focal loss (Lin et al. 2017): per pixel `α_t·(1−p_t)^γ·BCE` with a sigmoid (binary and
//! multilabel; the per-pixel term is the fused pass's, in one of four forms for soft
//! targets), or `α_c·(1−p_c)^γ·(−ln p_c)` with a softmax (multiclass).

use super::common::{f, reduce, reduction_keyword, sum_flag, Reduction};
use super::segment::SegmentLoss;
use super::{Catalogued, Family, Keywords, LossDef, SumLoss};
use crate::check::{non_negative, unit_interval};
use crate::error::Result;
use crate::finalize::FinalizeSpec;
use crate::gpu::contract::TERM_FOCAL;
use crate::input::Mode;
use crate::options::ClassOptions;
use crate::pixel::{FocalForm, PixelClaims};
use crate::stats::{Coefficients, Stats};

/// Focal loss per pixel (Lin et al. 2017; torchvision `sigmoid_focal_loss`):
/// `α_t·(1−p_t)^γ·BCE`, `p_t = p·t + (1−p)(1−t)`, `α_t = α·t + (1−α)(1−t)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Focal {
    /// Weight of the positive class; `None` weighs both classes 1 (seed: 0.8).
    pub alpha: Option<f64>,
    /// Focusing exponent γ ≥ 0 (seed: 2).
    pub gamma: f64,
    /// Mean over valid pixels, or sum.
    pub reduction: Reduction,
    /// How 1 − p_t is formed for soft targets (binary/multilabel; all forms agree on hard targets).
    pub form: FocalForm,
}

impl Default for Focal {
    fn default() -> Self {
        Focal { alpha: Some(0.8), gamma: 2.0, reduction: Reduction::Mean, form: FocalForm::Probability }
    }
}

impl Focal {
    /// Softmax focal loss: `focal` row c = Σ over pixels of class c of (1−p_c)^γ·(−ln p_c);
    /// α_c from the class weights, else α for classes ≥ 1 and 1−α for class 0 (kornia), else 1.
    fn softmax_segment(&self, rows: &[Stats], opts: &ClassOptions) -> SegmentLoss {
        let count = rows.iter().map(|s| s.count).max().unwrap_or(0).max(1) as f64;
        let scale = match self.reduction {
            Reduction::Mean => 1.0 / count,
            Reduction::Sum => 1.0,
        };
        let mut value = 0.0;
        let coefs = rows
            .iter()
            .enumerate()
            .map(|(k, s)| {
                let a = match (&opts.weights, self.alpha) {
                    (Some(w), _) => w[k],
                    (None, Some(a)) if k == 0 => 1.0 - a,
                    (None, Some(a)) => a,
                    (None, None) => 1.0,
                };
                value += a * s.focal * scale;
                Coefficients { focal: a * scale, ..Default::default() }
            })
            .collect();
        (value, coefs)
    }
}

impl LossDef for Focal {
    fn validate(&self) -> Result<()> {
        if let Some(a) = self.alpha {
            unit_interval("Focal", "alpha", a)?;
        }
        non_negative("Focal", "gamma", self.gamma)
    }

    fn claim_pixel_params(&self, claims: &mut PixelClaims) -> Result<()> {
        claims.focal(self.alpha, self.gamma, self.form)
    }

    fn family(&self) -> Family<'_> {
        Family::Sums(self)
    }
}

impl SumLoss for Focal {
    fn backward_terms(&self) -> u32 {
        TERM_FOCAL
    }

    fn row(&self, s: &Stats) -> Option<(f64, Coefficients)> {
        Some(reduce(s.focal, s, self.reduction, |c| Coefficients { focal: c, ..Default::default() }))
    }

    fn is_region(&self) -> bool {
        false
    }

    fn segment(&self, rows: &[Stats], opts: &ClassOptions, mode: Mode) -> Option<Option<SegmentLoss>> {
        (mode == Mode::Multiclass).then(|| Some(self.softmax_segment(rows, opts)))
    }

    /// γ and the form are per-pixel parameters (the fused pass); so is α for sigmoid rows,
    /// while the softmax focal weighs its class rows by α here: p0 = α (−1: none).
    fn finalize(&self, mode: Mode) -> std::result::Result<FinalizeSpec, String> {
        let Focal { alpha, gamma: _, reduction, form: _ } = *self;
        let mut spec = FinalizeSpec::new(if mode == Mode::Multiclass { "SOFTMAX_FOCAL" } else { "FOCAL" });
        spec.flags = sum_flag(reduction);
        spec.p[0] = alpha.map_or(-1.0, f);
        Ok(spec)
    }
}

impl Catalogued for Focal {
    const NAME: &'static str = "focal";
    const KEYWORDS: &'static [&'static str] = &["alpha", "gamma", "reduction"];
    const GPU_KINDS: &'static [&'static str] = &["FOCAL", "SOFTMAX_FOCAL"];

    fn from_keywords(kw: &dyn Keywords) -> Result<Self> {
        let d = Focal::default();
        Ok(Focal {
            // One meaning: absent → the default; None → no α; a number, checked to lie in [0, 1].
            alpha: if kw.is_null("alpha") {
                None
            } else if kw.is_set("alpha") {
                kw.opt_f64("alpha")?
            } else {
                d.alpha
            },
            gamma: kw.f64("gamma", d.gamma)?,
            reduction: reduction_keyword(kw)?,
            ..d
        })
    }

    fn examples() -> Vec<Self> {
        let d = Focal::default();
        vec![
            d,
            Focal { alpha: None, gamma: 0.0, ..d },
            Focal { alpha: Some(0.25), gamma: 1.5, reduction: Reduction::Sum, ..d },
            Focal { form: FocalForm::ExpBce, ..d },
            Focal { form: FocalForm::LogSigmoid, gamma: 3.0, ..d },
            Focal { form: FocalForm::PerTerm, alpha: Some(0.4), ..d },
        ]
    }
}
