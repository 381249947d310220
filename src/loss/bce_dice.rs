//! BCE-Dice: `weight_bce·BCE + weight_dice·DiceLoss`.

use super::common::{f, sum_flag};
use super::{Bce, Catalogued, Dice, Family, Keywords, LossDef, SumLoss};
use crate::check::finite;
use crate::error::Result;
use crate::finalize::FinalizeSpec;
use crate::gpu::contract::TERM_BCE;
use crate::input::Mode;
use crate::pixel::PixelClaims;
use crate::stats::{Coefficients, Stats};

/// BCE-Dice: `weight_bce·BCE + weight_dice·DiceLoss`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BceDice {
    /// The BCE term's parameters.
    pub bce: Bce,
    /// The Dice term's parameters.
    pub dice: Dice,
    /// Weight of the BCE term (seed: 1).
    pub weight_bce: f64,
    /// Weight of the Dice term (seed: 1).
    pub weight_dice: f64,
}

impl Default for BceDice {
    fn default() -> Self {
        BceDice { bce: Bce::default(), dice: Dice::default(), weight_bce: 1.0, weight_dice: 1.0 }
    }
}

impl LossDef for BceDice {
    fn validate(&self) -> Result<()> {
        self.bce.validate()?;
        self.dice.validate()?;
        finite("BceDice", "weight_bce", self.weight_bce)?;
        finite("BceDice", "weight_dice", self.weight_dice)
    }

    fn applies(&self, mode: Mode) -> bool {
        mode != Mode::Multiclass
    }

    fn claim_pixel_params(&self, claims: &mut PixelClaims) -> Result<()> {
        self.bce.claim_pixel_params(claims)
    }

    fn family(&self) -> Family<'_> {
        Family::Sums(self)
    }
}

impl SumLoss for BceDice {
    fn backward_terms(&self) -> u32 {
        TERM_BCE | self.dice.backward_terms()
    }

    fn row(&self, s: &Stats) -> Option<(f64, Coefficients)> {
        let (b, db) = self.bce.value_and_coefficients(s);
        let (d, dd) = self.dice.value_and_coefficients(s);
        let (wb, wd) = (self.weight_bce, self.weight_dice);
        Some((wb * b + wd * d, db.scaled(wb).plus(&dd.scaled(wd))))
    }

    /// The Dice part's p0…p2 and flags, p5 = weight_bce, p6 = weight_dice.
    fn finalize(&self, _mode: Mode) -> std::result::Result<FinalizeSpec, String> {
        let BceDice { bce, dice, weight_bce, weight_dice } = *self;
        let mut spec = dice.finalize_part("BCE_DICE");
        spec.flags |= sum_flag(bce.reduction);
        (spec.p[5], spec.p[6]) = (f(weight_bce), f(weight_dice));
        Ok(spec)
    }
}

impl Catalogued for BceDice {
    const NAME: &'static str = "bce_dice";
    const KEYWORDS: &'static [&'static str] = &["pos_weight", "label_smoothing", "smooth", "weight_bce", "weight_dice"];
    const GPU_KINDS: &'static [&'static str] = &["BCE_DICE"];

    fn from_keywords(kw: &dyn Keywords) -> Result<Self> {
        let d = BceDice::default();
        Ok(BceDice {
            bce: Bce::pixel_keywords(kw)?,
            dice: Dice::smooth_keyword(kw)?,
            weight_bce: kw.f64("weight_bce", d.weight_bce)?,
            weight_dice: kw.f64("weight_dice", d.weight_dice)?,
        })
    }

    fn examples() -> Vec<Self> {
        let d = BceDice::default();
        vec![
            d,
            BceDice { weight_bce: 0.3, weight_dice: 0.7, dice: Dice { squared: true, ..Dice::default() }, ..d },
            BceDice { bce: Bce { pos_weight: 2.0, label_smoothing: 0.05, ..Bce::default() }, ..d },
        ]
    }
}
