//! Softmax cross-entropy with label smoothing (PyTorch's `CrossEntropyLoss`), multiclass.

use super::common::{f, reduction_keyword, sum_flag, Reduction};
use super::segment::SegmentLoss;
use super::{Catalogued, Family, Keywords, LossDef, SumLoss};
use crate::check::unit_interval;
use crate::error::Result;
use crate::finalize::FinalizeSpec;
use crate::gpu::contract::{TERM_BCE, TERM_WCE};
use crate::input::Mode;
use crate::options::ClassOptions;
use crate::stats::{Coefficients, Stats};

/// Softmax cross-entropy with label smoothing ε (PyTorch's `CrossEntropyLoss`):
/// per pixel `(1−ε)·w_k·(−ln p_k) + (ε/C)·Σ_c w_c·(−ln p_c)`, class weights w from the
/// term's [`ClassOptions`]; the mean divides by Σ w_k over the valid pixels.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct CrossEntropy {
    /// Label smoothing ε in [0, 1].
    pub label_smoothing: f64,
    /// Weighted mean over valid pixels, or sum.
    pub reduction: Reduction,
}

/// Multiclass cross-entropy from a segment's rows: `bce` = Σ over pixels of class c of
/// −ln p_c, `wce` = Σ over all pixels of −ln p_c, `st` = pixels of class c. The class weights
/// apply whatever the selection.
pub(crate) fn cross_entropy(
    eps: f64,
    reduction: Reduction,
    rows: &[Stats],
    opts: &ClassOptions,
) -> Option<SegmentLoss> {
    let c = rows.len() as f64;
    let den = match reduction {
        Reduction::Mean => rows.iter().enumerate().map(|(k, s)| opts.weight(k) * s.st).sum::<f64>(),
        Reduction::Sum => 1.0,
    };
    if den <= 0.0 {
        return None;
    }
    let mut value = 0.0;
    let coefs = rows
        .iter()
        .enumerate()
        .map(|(k, s)| {
            let w = opts.weight(k);
            value += ((1.0 - eps) * w * s.bce + eps / c * w * s.wce) / den;
            Coefficients { bce: (1.0 - eps) * w / den, wce: eps / c * w / den, ..Default::default() }
        })
        .collect();
    Some((value, coefs))
}

impl LossDef for CrossEntropy {
    fn validate(&self) -> Result<()> {
        unit_interval("CrossEntropy", "label_smoothing", self.label_smoothing)
    }

    fn applies(&self, mode: Mode) -> bool {
        mode == Mode::Multiclass
    }

    fn family(&self) -> Family<'_> {
        Family::Sums(self)
    }
}

impl SumLoss for CrossEntropy {
    fn backward_terms(&self) -> u32 {
        TERM_BCE | TERM_WCE
    }

    fn row(&self, _s: &Stats) -> Option<(f64, Coefficients)> {
        None
    }

    fn segment(&self, rows: &[Stats], opts: &ClassOptions, _mode: Mode) -> Option<Option<SegmentLoss>> {
        Some(cross_entropy(self.label_smoothing, self.reduction, rows, opts))
    }

    /// p3 = label smoothing.
    fn finalize(&self, _mode: Mode) -> std::result::Result<FinalizeSpec, String> {
        let CrossEntropy { label_smoothing, reduction } = *self;
        let mut spec = FinalizeSpec::new("CE");
        spec.flags = sum_flag(reduction);
        spec.p[3] = f(label_smoothing);
        Ok(spec)
    }
}

impl Catalogued for CrossEntropy {
    const NAME: &'static str = "cross_entropy";
    const KEYWORDS: &'static [&'static str] = &["label_smoothing", "reduction"];
    const GPU_KINDS: &'static [&'static str] = &["CE"];

    fn from_keywords(kw: &dyn Keywords) -> Result<Self> {
        let d = CrossEntropy::default();
        Ok(CrossEntropy {
            label_smoothing: kw.f64("label_smoothing", d.label_smoothing)?,
            reduction: reduction_keyword(kw)?,
        })
    }

    fn examples() -> Vec<Self> {
        vec![
            CrossEntropy::default(),
            CrossEntropy { label_smoothing: 0.1, reduction: Reduction::Mean },
            CrossEntropy { label_smoothing: 0.0, reduction: Reduction::Sum },
        ]
    }
}
