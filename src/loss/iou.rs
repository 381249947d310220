//! IoU (Jaccard) loss: `1 − (TP + smooth) / max(Σp + Σt − TP + smooth, eps)`.

use super::common::{f, ratio};
use super::{Catalogued, Family, Keywords, LossDef, SumLoss};
use crate::check::{non_negative, positive_sum};
use crate::error::Result;
use crate::finalize::FinalizeSpec;
use crate::input::Mode;
use crate::stats::{Coefficients, Stats};

/// IoU (Jaccard) loss: `1 − (TP + smooth) / max(Σp + Σt − TP + smooth, eps)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Iou {
    /// Added to numerator and denominator (seed: 1).
    pub smooth: f64,
    /// Lower clamp of the denominator.
    pub eps: f64,
}

impl Default for Iou {
    fn default() -> Self {
        Iou { smooth: 1.0, eps: 1e-7 }
    }
}

impl LossDef for Iou {
    fn validate(&self) -> Result<()> {
        non_negative("Iou", "smooth", self.smooth)?;
        non_negative("Iou", "eps", self.eps)?;
        positive_sum("Iou", "smooth", self.smooth, self.eps)
    }

    fn family(&self) -> Family<'_> {
        Family::Sums(self)
    }
}

impl SumLoss for Iou {
    fn backward_terms(&self) -> u32 {
        0
    }

    fn row(&self, s: &Stats) -> Option<(f64, Coefficients)> {
        let num = s.tp + self.smooth;
        let dnum = Coefficients { tp: 1.0, ..Default::default() };
        let den = s.sp + s.st - s.tp + self.smooth;
        let dden = Coefficients { sp: 1.0, tp: -1.0, ..Default::default() };
        let (j, dj) = ratio(num, dnum, den, dden, self.eps);
        Some((1.0 - j, dj.scaled(-1.0)))
    }

    /// p0 = smooth, p2 = eps.
    fn finalize(&self, _mode: Mode) -> std::result::Result<FinalizeSpec, String> {
        let Iou { smooth, eps } = *self;
        let mut spec = FinalizeSpec::new("IOU");
        (spec.p[0], spec.p[2]) = (f(smooth), f(eps));
        Ok(spec)
    }
}

impl Catalogued for Iou {
    const NAME: &'static str = "iou";
    const KEYWORDS: &'static [&'static str] = &["smooth", "eps"];
    const GPU_KINDS: &'static [&'static str] = &["IOU"];

    fn from_keywords(kw: &dyn Keywords) -> Result<Self> {
        let d = Iou::default();
        Ok(Iou { smooth: kw.f64("smooth", d.smooth)?, eps: kw.f64("eps", d.eps)? })
    }

    fn examples() -> Vec<Self> {
        vec![Iou::default(), Iou { smooth: 0.0, eps: 1e-6 }, Iou { smooth: 1e-5, eps: 1e-7 }]
    }
}
