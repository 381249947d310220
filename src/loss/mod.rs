//! The loss catalogue: one module per loss (its struct, defaults, validation, value and
//! ∂f/∂S, its packing for the GPU finalize kernel, its command-line name and keywords, and
//! the parameter sets the tests run), and the one list, [`catalogue!`], that turns them
//! into the [`Loss`] enum. Nothing outside this folder matches on a loss: the central
//! functions ask the loss through the traits below.
//!
//! Two families plug in here:
//! - [`SumLoss`]: a function of the per-segment sums ([`Stats`]): one fused pass forward,
//!   one elementwise pass backward, finalized on the host (f64) or by `finalize.wgsl`;
//! - [`StandaloneLoss`]: a loss that needs its own passes over the data (Lovasz's sort; the
//!   neighbourhood losses to come). It computes its value and gradient itself, on the GPU
//!   or on the reference.
//!
//! Defaults follow the seed (`smooth = 1`, Focal α = 0.8 / γ = 2, Tversky α = β = 0.5,
//! Combo α = β = 0.5) and the papers; see README.md for the formulas.

mod bce;
mod bce_dice;
mod cldice;
mod combo;
mod common;
mod cross_entropy;
mod dice;
mod dice_ce;
mod distance;
mod focal;
mod generalized_dice;
mod iou;
mod lovasz;
mod mcc;
mod planes;
pub(crate) mod segment;
mod tversky;
mod wasserstein;

#[cfg(test)]
mod catalogue_tests;

use crate::options::ClassOptions;
use crate::stats::Coefficients;
pub use common::{Reduction, TpForm};
pub use generalized_dice::GdlWeighting;
pub(crate) use segment::SegmentLoss;
pub use wasserstein::WassersteinWeighting;

use crate::error::Result;
use crate::finalize::FinalizeSpec;
use crate::gpu::contract::TERMS_ALL;
use crate::gpu::GpuContext;
use crate::input::{Input, Mode};
use crate::options::TermOptions;
use crate::pixel::PixelClaims;
use crate::stats::Stats;

/// What every loss says about itself (object-safe: the catalogue hands out `&dyn LossDef`).
pub(crate) trait LossDef {
    /// Checks every parameter's domain.
    fn validate(&self) -> Result<()>;
    /// The name printed in tables when it differs from the catalogue name (focal Tversky).
    fn label(&self) -> Option<&'static str> {
        None
    }
    /// Whether the loss applies to batches of `mode`.
    fn applies(&self, _mode: Mode) -> bool {
        true
    }
    /// Checks the term's class options against the loss (`Err`: why they do not fit).
    fn check_classes(&self, _classes: &ClassOptions) -> std::result::Result<(), String> {
        Ok(())
    }
    /// Whether the loss reads `ClassOptions::class_distances` (the others refuse them).
    fn takes_class_distances(&self) -> bool {
        false
    }
    /// Claims the per-pixel parameters the loss needs from the fused pass.
    fn claim_pixel_params(&self, _claims: &mut PixelClaims) -> Result<()> {
        Ok(())
    }
    /// Which family computes the loss.
    fn family(&self) -> Family<'_>;
}

/// How a loss is computed.
pub(crate) enum Family<'a> {
    /// From the per-segment sums.
    Sums(&'a dyn SumLoss),
    /// By its own passes over the data.
    Standalone(&'a dyn StandaloneLoss),
}

/// A loss that is a function of the per-segment sums.
pub(crate) trait SumLoss {
    /// The loss of one binary segment (one image, or one (image, class) plane) and ∂loss/∂S;
    /// `None` for the losses defined over all classes of a segment at once.
    fn row(&self, s: &Stats) -> Option<(f64, Coefficients)>;
    /// Whether the absent-class policy applies (region losses; not BCE or Focal).
    fn is_region(&self) -> bool {
        true
    }
    /// The loss of a whole segment's class rows when the loss defines it itself (`None`:
    /// the class-wise mean, or the pooled classes, of [`SumLoss::row`]). The inner `None` is
    /// an undefined segment.
    fn segment(&self, _rows: &[Stats], _classes: &ClassOptions, _mode: Mode) -> Option<Option<SegmentLoss>> {
        None
    }
    /// The loss's record for the GPU finalize kernel (`Err`: why a plan cannot compute it).
    fn finalize(&self, mode: Mode) -> std::result::Result<FinalizeSpec, String>;
    /// The backward terms (`TERM_*`: Σp², Σ|p−t|, Σmin, BCE, WCE, focal) whose coefficients
    /// this loss can make non-zero, in any mode; ∂/∂Σp and ∂/∂Σpt are always computed. A
    /// plan's coefficients are made on the GPU, after recording, so its backward kernel is
    /// specialised to these (`plan/backward_terms_tests.rs` holds them to the coefficients).
    fn backward_terms(&self) -> u32 {
        TERMS_ALL
    }
}

/// Where a standalone loss runs.
#[derive(Clone, Copy)]
pub(crate) enum Runner<'a> {
    /// On a GPU context.
    Gpu(&'a GpuContext),
    /// On the float64 reference.
    Reference,
}

/// A loss with passes of its own (not a function of mergeable sums).
pub(crate) trait StandaloneLoss {
    /// The term's value and, with `grad`, the gradient of `weight · value` with respect to
    /// the input (f32, the input's layout).
    fn evaluate(
        &self,
        runner: Runner,
        input: &Input,
        term: &TermOptions,
        grad: bool,
    ) -> Result<(f64, Option<Vec<f32>>)>;
}

/// Keyword arguments of the command line and spec files, as the losses read them.
pub(crate) trait Keywords {
    /// A number (default when unset).
    fn f64(&self, key: &str, default: f64) -> Result<f64>;
    /// A number or null.
    fn opt_f64(&self, key: &str) -> Result<Option<f64>>;
    /// true or false (default when unset).
    fn bool(&self, key: &str, default: bool) -> Result<bool>;
    /// One of `accepted` (default when unset).
    fn choice(&self, key: &str, default: &'static str, accepted: &[&'static str]) -> Result<&'static str>;
    /// Whether the key is given (and not null).
    fn is_set(&self, key: &str) -> bool;
    /// Whether the key is given as null (Python's None).
    fn is_null(&self, key: &str) -> bool;
}

/// The static half of a catalogue entry.
pub(crate) trait Catalogued: LossDef + Sized {
    /// The name on the command line and in spec files.
    const NAME: &'static str;
    /// The loss's own keywords.
    const KEYWORDS: &'static [&'static str];
    /// The finalize kernel's kinds this loss uses (the `K_*` names; empty for standalone).
    const GPU_KINDS: &'static [&'static str];
    /// The loss from keyword arguments (segloss's defaults for unset ones).
    fn from_keywords(kw: &dyn Keywords) -> Result<Self>;
    /// Parameter sets that exercise every option, for the catalogue-wide tests.
    fn examples() -> Vec<Self>;
}

/// One catalogue entry (the keywords and the parser serve the presets feature).
#[cfg_attr(not(feature = "presets"), allow(dead_code))]
pub(crate) struct Entry {
    /// Command-line name.
    pub name: &'static str,
    /// Own keywords.
    pub keywords: &'static [&'static str],
    /// The finalize kinds.
    pub gpu_kinds: &'static [&'static str],
    /// Parses keyword arguments.
    pub parse: fn(&dyn Keywords) -> Result<Loss>,
    /// Example parameter sets.
    pub examples: fn() -> Vec<Loss>,
}

/// The catalogue: each line is a loss — its `Loss` variant, its module's type and doc.
/// Adding a loss: its module, one line here, its case in finalize.wgsl (sum-based).
macro_rules! catalogue {
    ($($(#[$doc:meta])* $variant:ident($module:ident::$ty:ident),)*) => {
        $(pub use $module::$ty;)*

        /// One loss with its parameters.
        #[derive(Debug, Clone, Copy, PartialEq)]
        #[non_exhaustive]
        pub enum Loss {
            $($(#[$doc])* $variant($ty),)*
        }

        impl Loss {
            /// The one place that matches on the loss: everything else delegates.
            pub(crate) fn def(&self) -> &dyn LossDef {
                match self {
                    $(Loss::$variant(l) => l,)*
                }
            }

            /// The loss's catalogue name (`dice`, `focal`, …).
            fn catalogue_name(&self) -> &'static str {
                match self {
                    $(Loss::$variant(_) => <$ty as Catalogued>::NAME,)*
                }
            }
        }

        $(impl From<$ty> for Loss {
            fn from(l: $ty) -> Loss {
                Loss::$variant(l)
            }
        })*

        /// Every loss, in catalogue order.
        pub(crate) const CATALOGUE: &[Entry] = &[$(Entry {
            name: <$ty as Catalogued>::NAME,
            keywords: <$ty as Catalogued>::KEYWORDS,
            gpu_kinds: <$ty as Catalogued>::GPU_KINDS,
            parse: |kw| Ok(Loss::$variant(<$ty as Catalogued>::from_keywords(kw)?)),
            examples: || <$ty as Catalogued>::examples().into_iter().map(Loss::$variant).collect(),
        },)*];
    };
}

catalogue! {
    /// Dice loss.
    Dice(dice::Dice),
    /// IoU / Jaccard loss.
    Iou(iou::Iou),
    /// Tversky and focal Tversky loss.
    Tversky(tversky::Tversky),
    /// Binary cross-entropy.
    Bce(bce::Bce),
    /// BCE + Dice.
    BceDice(bce_dice::BceDice),
    /// Focal loss (sigmoid, or softmax in multiclass mode).
    Focal(focal::Focal),
    /// Combo loss.
    Combo(combo::Combo),
    /// Softmax cross-entropy (multiclass).
    CrossEntropy(cross_entropy::CrossEntropy),
    /// Dice + cross-entropy (multiclass).
    DiceCe(dice_ce::DiceCe),
    /// Generalized Dice (Sudre et al. 2017; multiclass and multilabel).
    GeneralizedDice(generalized_dice::GeneralizedDice),
    /// Matthews correlation coefficient loss (Abhishek & Hamarneh 2021).
    Mcc(mcc::Mcc),
    /// Lovasz hinge (Berman et al. 2018; binary and multilabel logits).
    LovaszHinge(lovasz::LovaszHinge),
    /// Lovasz softmax (Berman et al. 2018; multiclass).
    LovaszSoftmax(lovasz::LovaszSoftmax),
    /// Hausdorff distance-transform loss (Karimi & Salcudean 2019; MONAI's form).
    HausdorffDt(distance::HausdorffDt),
    /// Boundary loss (Kervadec et al. 2019; MONAI's form).
    Boundary(distance::Boundary),
    /// Soft clDice, alone or mixed with soft Dice (Shit et al. 2021; MONAI's form).
    ClDice(cldice::ClDice),
    /// Generalized Wasserstein Dice (Fidon et al. 2017; multiclass; MONAI's form).
    WassersteinDice(wasserstein::WassersteinDice),
}

pub(crate) use distance::edt;

impl Loss {
    /// The loss's name as printed in tables.
    pub fn name(&self) -> &'static str {
        self.def().label().unwrap_or_else(|| self.catalogue_name())
    }

    /// Checks every parameter's domain.
    pub fn validate(&self) -> Result<()> {
        self.def().validate()
    }

    /// Whether the loss needs passes of its own (Lovasz) rather than the fused sums.
    pub fn is_standalone(&self) -> bool {
        matches!(self.def().family(), Family::Standalone(_))
    }

    /// The former name of [`Loss::is_standalone`] (the Lovasz losses were the only ones).
    #[deprecated(note = "use Loss::is_standalone: a loss with passes of its own")]
    pub fn is_lovasz(&self) -> bool {
        self.is_standalone()
    }

    /// The loss of one binary segment (one image, or one (image, class) plane) and
    /// ∂loss/∂S, as the engine computes it for a binary image with these sums (a loss with a
    /// whole-segment form, such as smp's focal Tversky whose γ follows the class mean, in that
    /// form; MCC on a segment whose targets are all 1 or all 0 carries its one per-pixel
    /// derivative in `sp`); `None` for the losses that need every class of a segment (cross-entropy,
    /// Dice + CE, Generalized Dice), for an undefined segment, and for standalone losses.
    pub fn value_and_coefficients(&self, s: &Stats) -> Option<(f64, Coefficients)> {
        match self.def().family() {
            Family::Sums(l) => {
                let row = l.row(s)?;
                match l.segment(std::slice::from_ref(s), &ClassOptions::default(), Mode::Binary) {
                    Some(segment) => segment.and_then(|(v, c)| Some((v, *c.first()?))),
                    None => Some(row),
                }
            }
            Family::Standalone(_) => None,
        }
    }

    /// The backward terms (`TERM_*`) this loss can give a non-zero coefficient (none for a
    /// standalone loss, which has passes of its own).
    pub(crate) fn backward_terms(&self) -> u32 {
        match self.def().family() {
            Family::Sums(l) => l.backward_terms(),
            Family::Standalone(_) => 0,
        }
    }

    /// Every catalogue name, in order.
    pub fn names() -> Vec<&'static str> {
        CATALOGUE.iter().map(|e| e.name).collect()
    }

    /// Parameter sets of every loss that exercise each of its options (for tests and
    /// benchmarks that must cover the whole catalogue).
    pub fn examples() -> Vec<Loss> {
        CATALOGUE.iter().flat_map(|e| (e.examples)()).collect()
    }
}

/// The finalize kernel's kinds, in catalogue order: `K_<name>` is its index.
pub(crate) fn gpu_kinds() -> Vec<&'static str> {
    CATALOGUE.iter().flat_map(|e| e.gpu_kinds.iter().copied()).collect()
}
