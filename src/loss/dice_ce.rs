//! Dice + cross-entropy: `weight_dice·DiceLoss + weight_ce·CE` (MONAI's `DiceCELoss`).

use super::common::{f, sum_flag, Reduction};
use super::cross_entropy::cross_entropy;
use super::segment::{classwise, combine_defined, SegmentLoss};
use super::{Catalogued, CrossEntropy, Dice, Family, Keywords, LossDef, SumLoss};
use crate::check::finite;
use crate::error::Result;
use crate::finalize::FinalizeSpec;
use crate::gpu::contract::{TERM_BCE, TERM_WCE};
use crate::input::Mode;
use crate::options::ClassOptions;
use crate::stats::{Coefficients, Stats};

/// Dice + cross-entropy: `weight_dice·DiceLoss + weight_ce·CE` (MONAI's `DiceCELoss`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DiceCe {
    /// The Dice term.
    pub dice: Dice,
    /// The cross-entropy term.
    pub ce: CrossEntropy,
    /// Weight of the Dice term (1).
    pub weight_dice: f64,
    /// Weight of the cross-entropy term (1).
    pub weight_ce: f64,
}

impl Default for DiceCe {
    fn default() -> Self {
        DiceCe { dice: Dice::default(), ce: CrossEntropy::default(), weight_dice: 1.0, weight_ce: 1.0 }
    }
}

impl LossDef for DiceCe {
    fn validate(&self) -> Result<()> {
        self.dice.validate()?;
        self.ce.validate()?;
        finite("DiceCe", "weight_dice", self.weight_dice)?;
        finite("DiceCe", "weight_ce", self.weight_ce)
    }

    fn applies(&self, mode: Mode) -> bool {
        mode == Mode::Multiclass
    }

    fn family(&self) -> Family<'_> {
        Family::Sums(self)
    }
}

impl SumLoss for DiceCe {
    fn backward_terms(&self) -> u32 {
        TERM_BCE | TERM_WCE | self.dice.backward_terms()
    }

    fn row(&self, _s: &Stats) -> Option<(f64, Coefficients)> {
        None
    }

    /// A part that is undefined for the segment (Dice: every class skipped; CE: no weight)
    /// contributes nothing; the segment counts while either part is defined.
    fn segment(&self, rows: &[Stats], opts: &ClassOptions, _mode: Mode) -> Option<Option<SegmentLoss>> {
        let d = classwise(&self.dice, rows, opts);
        let e = cross_entropy(self.ce.label_smoothing, self.ce.reduction, rows, opts);
        Some(combine_defined(self.weight_dice, d, self.weight_ce, e, rows.len()))
    }

    /// The Dice part's p0…p2 and flags, p3 = CE label smoothing, p5 = weight_dice,
    /// p6 = weight_ce.
    fn finalize(&self, _mode: Mode) -> std::result::Result<FinalizeSpec, String> {
        let DiceCe { dice, ce, weight_dice, weight_ce } = *self;
        let CrossEntropy { label_smoothing, reduction } = ce;
        let mut spec = dice.finalize_part("DICE_CE");
        spec.flags |= sum_flag(reduction);
        (spec.p[3], spec.p[5], spec.p[6]) = (f(label_smoothing), f(weight_dice), f(weight_ce));
        Ok(spec)
    }
}

impl Catalogued for DiceCe {
    const NAME: &'static str = "dice_ce";
    const KEYWORDS: &'static [&'static str] = &["smooth", "label_smoothing", "weight_dice", "weight_ce"];
    const GPU_KINDS: &'static [&'static str] = &["DICE_CE"];

    fn from_keywords(kw: &dyn Keywords) -> Result<Self> {
        let d = DiceCe::default();
        Ok(DiceCe {
            dice: Dice::smooth_keyword(kw)?,
            ce: CrossEntropy {
                label_smoothing: kw.f64("label_smoothing", d.ce.label_smoothing)?,
                reduction: Reduction::Mean,
            },
            weight_dice: kw.f64("weight_dice", d.weight_dice)?,
            weight_ce: kw.f64("weight_ce", d.weight_ce)?,
        })
    }

    fn examples() -> Vec<Self> {
        let d = DiceCe::default();
        vec![
            d,
            DiceCe { weight_dice: 0.4, weight_ce: 1.5, ce: CrossEntropy { label_smoothing: 0.1, ..d.ce }, ..d },
            DiceCe { dice: Dice { squared: true, ..Dice::default().smooth(1e-5) }, ..d },
        ]
    }
}
