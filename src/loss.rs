//! The loss catalogue: parameters, defaults, validation, and for every sum-based loss its
//! value f(S) and its partial derivatives ∂f/∂S (the coefficients of the backward pass).
//!
//! Defaults follow the seed (`smooth = 1`, Focal α = 0.8 / γ = 2, Tversky α = β = 0.5,
//! Combo α = β = 0.5) and the papers; see README.md for the formulas.

use crate::aggregate::ClassOptions;
use crate::error::{Error, Result};
use crate::stats::Stats;

/// How the numerator's true-positive term of Dice is formed from the sums.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TpForm {
    /// TP = Σ p·t (the seed, MONAI's default).
    #[default]
    Product,
    /// TP = (Σp + Σt − Σ|p−t|)/2: equal to Σ p·t for hard targets, Σ min(p,t) for soft
    /// ones (smp, MONAI `soft_label=True`).
    SoftL1,
}

/// Whether a pixel-wise loss is averaged over the valid pixels or summed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reduction {
    /// Mean over the valid pixels of the segment.
    #[default]
    Mean,
    /// Sum over the valid pixels of the segment.
    Sum,
}

/// How per-image values become one loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Aggregation {
    /// The whole batch as one segment: the loss of the summed statistics (the seed's flatten).
    #[default]
    Batch,
    /// The mean over images of each image's loss (images without a valid pixel left out).
    PerImage,
}

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

    fn validate(&self) -> Result<()> {
        non_negative("Dice", "smooth_nr", self.smooth_nr)?;
        non_negative("Dice", "smooth_dr", self.smooth_dr)?;
        non_negative("Dice", "eps", self.eps)?;
        positive_sum("Dice", "smooth_dr", self.smooth_dr, self.eps)
    }

    /// The Dice score (not the loss) and its partial derivatives.
    fn score(&self, s: &Stats) -> (f64, Coefficients) {
        let (tp, dtp) = match self.tp_form {
            TpForm::Product => (s.tp, Coefficients { tp: 1.0, ..Default::default() }),
            TpForm::SoftL1 => ((s.sp + s.st - s.sad) / 2.0, Coefficients { smin: 1.0, ..Default::default() }),
        };
        let (den, dden) = if self.squared {
            (s.spp + s.stt, Coefficients { spp: 1.0, ..Default::default() })
        } else {
            (s.sp + s.st, Coefficients { sp: 1.0, ..Default::default() })
        };
        ratio(2.0 * tp + self.smooth_nr, dtp.scaled(2.0), den + self.smooth_dr, dden, self.eps)
    }

    fn value_and_coefficients(&self, s: &Stats) -> (f64, Coefficients) {
        let (d, dd) = self.score(s);
        if self.log_loss {
            if d > self.eps {
                (-d.ln(), dd.scaled(-1.0 / d))
            } else {
                (-self.eps.ln(), Coefficients::default())
            }
        } else {
            (1.0 - d, dd.scaled(-1.0))
        }
    }
}

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

impl Iou {
    fn validate(&self) -> Result<()> {
        non_negative("Iou", "smooth", self.smooth)?;
        non_negative("Iou", "eps", self.eps)?;
        positive_sum("Iou", "smooth", self.smooth, self.eps)
    }

    fn value_and_coefficients(&self, s: &Stats) -> (f64, Coefficients) {
        let num = s.tp + self.smooth;
        let dnum = Coefficients { tp: 1.0, ..Default::default() };
        let den = s.sp + s.st - s.tp + self.smooth;
        let dden = Coefficients { sp: 1.0, tp: -1.0, ..Default::default() };
        let (j, dj) = ratio(num, dnum, den, dden, self.eps);
        (1.0 - j, dj.scaled(-1.0))
    }
}

/// Tversky loss `(1 − T)^γ`, `T = (TP + smooth) / max(TP + α·FP + β·FN + smooth_dr, eps)`
/// (`smooth_dr` defaults to `smooth`); γ ≠ 1 is the focal Tversky loss. With α = β = 0.5 it
/// is smp's Dice score, with α = β = 1 its Jaccard score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tversky {
    /// Weight of the false positives (seed: 0.5).
    pub alpha: f64,
    /// Weight of the false negatives (seed: 0.5).
    pub beta: f64,
    /// Added to the numerator, and to the denominator unless `smooth_dr` is set (seed: 1).
    pub smooth: f64,
    /// Lower clamp of the denominator (and of the score under `log_loss`).
    pub eps: f64,
    /// Focal exponent (1 = plain Tversky).
    pub gamma: f64,
    /// Added to the denominator instead of `smooth` (MONAI's `smooth_dr`, kornia's `eps`).
    pub smooth_dr: Option<f64>,
    /// How TP is formed (smp: `SoftL1`).
    pub tp_form: TpForm,
    /// Loss is −ln(max(T, eps)) instead of 1 − T (before γ).
    pub log_loss: bool,
    /// Apply γ to the class mean, `(mean_c loss_c)^γ` (smp), instead of to each class's loss.
    pub gamma_after_class_mean: bool,
    /// FP and FN from Σp² and Σt² instead of Σp and Σt (MONAI `squared_pred` with `jaccard`).
    pub squared: bool,
}

impl Default for Tversky {
    fn default() -> Self {
        Tversky {
            alpha: 0.5,
            beta: 0.5,
            smooth: 1.0,
            eps: 1e-7,
            gamma: 1.0,
            smooth_dr: None,
            tp_form: TpForm::Product,
            log_loss: false,
            gamma_after_class_mean: false,
            squared: false,
        }
    }
}

impl Tversky {
    fn validate(&self) -> Result<()> {
        non_negative("Tversky", "alpha", self.alpha)?;
        non_negative("Tversky", "beta", self.beta)?;
        non_negative("Tversky", "smooth", self.smooth)?;
        non_negative("Tversky", "eps", self.eps)?;
        let dr = self.smooth_dr.unwrap_or(self.smooth);
        non_negative("Tversky", "smooth_dr", dr)?;
        positive_sum("Tversky", "smooth", dr, self.eps)?;
        if !(self.gamma.is_finite() && self.gamma > 0.0) {
            return Err(invalid("Tversky", "gamma", self.gamma, "must be finite and > 0"));
        }
        Ok(())
    }

    /// The loss before the exponent γ (1 − T, or −ln T) and its coefficients.
    pub(crate) fn base_value_and_coefficients(&self, s: &Stats) -> (f64, Coefficients) {
        let (a, b) = (self.alpha, self.beta);
        let (tp, dtp) = match self.tp_form {
            TpForm::Product => (s.tp, Coefficients { tp: 1.0, ..Default::default() }),
            TpForm::SoftL1 => ((s.sp + s.st - s.sad) / 2.0, Coefficients { smin: 1.0, ..Default::default() }),
        };
        let num = tp + self.smooth;
        // TP + α(SP − TP) + β(ST − TP) + smooth_dr (squared: Σp², Σt² for SP, ST)
        let (sp, st, dsp) = if self.squared {
            (s.spp, s.stt, Coefficients { spp: a, ..Default::default() })
        } else {
            (s.sp, s.st, Coefficients { sp: a, ..Default::default() })
        };
        let den = tp + a * (sp - tp) + b * (st - tp) + self.smooth_dr.unwrap_or(self.smooth);
        let dden = dtp.scaled(1.0 - a - b).plus(&dsp);
        let (t, dt) = ratio(num, dtp, den, dden, self.eps);
        if self.log_loss {
            return if t > self.eps {
                (-t.ln(), dt.scaled(-1.0 / t))
            } else {
                (-self.eps.ln(), Coefficients::default())
            };
        }
        // 1 − T may round below 0 when T = 1; the coefficient is kept.
        ((1.0 - t).max(0.0), dt.scaled(-1.0))
    }

    fn value_and_coefficients(&self, s: &Stats) -> (f64, Coefficients) {
        let (base, d) = self.base_value_and_coefficients(s);
        if self.gamma == 1.0 || self.gamma_after_class_mean {
            return (base, d);
        }
        power(base, d, self.gamma)
    }
}

/// `v^γ` and its coefficients from those of v ≥ 0; at v = 0 (the minimum) the slope is taken as 0.
pub(crate) fn power(v: f64, d: Coefficients, gamma: f64) -> (f64, Coefficients) {
    let slope = if v > 0.0 { gamma * v.powf(gamma - 1.0) } else { 0.0 };
    (v.powf(gamma), d.scaled(slope))
}

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
    fn validate(&self) -> Result<()> {
        non_negative("Bce", "pos_weight", self.pos_weight)?;
        if !(0.0..1.0).contains(&self.label_smoothing) {
            return Err(invalid("Bce", "label_smoothing", self.label_smoothing, "must be in [0, 1)"));
        }
        Ok(())
    }

    fn value_and_coefficients(&self, s: &Stats) -> (f64, Coefficients) {
        reduce(s.bce, s, self.reduction, |c| Coefficients { bce: c, ..Default::default() })
    }
}

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

/// The sigmoid focal loss's modulating factor for a target t in [0, 1]; the forms are equal
/// for t ∈ {0, 1} and differ for soft targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FocalForm {
    /// `α_t·(1 − p_t)^γ·BCE`, p_t = p·t + (1−p)(1−t) (Lin et al.; torchvision).
    #[default]
    Probability,
    /// `α_t·(1 − e^−BCE)^γ·BCE` (smp: p_t = exp(−BCE)).
    ExpBce,
    /// `α_t·σ(x·(1−2t))^γ·BCE` (MONAI's `sigmoid_focal_loss`; logits only).
    LogSigmoid,
    /// `t·α·(1−p)^γ·(−ln p) + (1−t)(1−α)·p^γ·(−ln(1−p))` (kornia: linear in t).
    PerTerm,
}

impl Default for Focal {
    fn default() -> Self {
        Focal { alpha: Some(0.8), gamma: 2.0, reduction: Reduction::Mean, form: FocalForm::Probability }
    }
}

impl Focal {
    fn validate(&self) -> Result<()> {
        if let Some(a) = self.alpha {
            unit_interval("Focal", "alpha", a)?;
        }
        non_negative("Focal", "gamma", self.gamma)
    }

    fn value_and_coefficients(&self, s: &Stats) -> (f64, Coefficients) {
        reduce(s.focal, s, self.reduction, |c| Coefficients { focal: c, ..Default::default() })
    }
}

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
    fn validate(&self) -> Result<()> {
        unit_interval("Combo", "ce_ratio", self.ce_ratio)?;
        unit_interval("Combo", "beta", self.beta)?;
        non_negative("Combo", "smooth", self.smooth)?;
        non_negative("Combo", "eps", self.eps)?;
        positive_sum("Combo", "smooth", self.smooth, self.eps)
    }

    fn dice(&self) -> Dice {
        Dice { eps: self.eps, ..Dice::default().smooth(self.smooth) }
    }

    fn value_and_coefficients(&self, s: &Stats) -> (f64, Coefficients) {
        let (wce, dwce) = reduce(s.wce, s, Reduction::Mean, |c| Coefficients { wce: c, ..Default::default() });
        let (dice, ddice) = self.dice().score(s);
        let a = self.ce_ratio;
        (a * wce - (1.0 - a) * dice, dwce.scaled(a).plus(&ddice.scaled(-(1.0 - a))))
    }
}

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

impl CrossEntropy {
    fn validate(&self) -> Result<()> {
        unit_interval("CrossEntropy", "label_smoothing", self.label_smoothing)
    }
}

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
    fn validate(&self) -> Result<()> {
        non_negative("GeneralizedDice", "smooth_nr", self.smooth_nr)?;
        non_negative("GeneralizedDice", "smooth_dr", self.smooth_dr)?;
        non_negative("GeneralizedDice", "all_absent_weight", self.all_absent_weight)?;
        positive_sum("GeneralizedDice", "smooth_dr", self.smooth_dr, 0.0)
    }
}

/// Lovasz hinge (Berman et al. 2018, `lovasz_hinge`): per segment, errors
/// e = 1 − x·(2y − 1) of the logits x and labels y = [t ≥ 0.5], sorted in descending order;
/// loss = Σ relu(e_sorted)·∇J, ∇J the Lovasz extension gradient of the Jaccard loss.
/// `.per_image()`: one problem per image (multilabel: all its channels together), mean over
/// images; `.batch()`: the whole batch as one problem. Ignored pixels are dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LovaszHinge;

/// Lovasz softmax (Berman et al. 2018, `lovasz_softmax`): per class c, errors |fg_c − p_c| of
/// the softmax p, sorted descending; loss_c = Σ e·∇J; the mean over the classes of the
/// term's `ClassOptions` selection (weighted as there), only those present in the segment's
/// labels when `present_only` (Berman's default `classes="present"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LovaszSoftmax {
    /// Skip classes without a true pixel in the segment.
    pub present_only: bool,
}

impl Default for LovaszSoftmax {
    fn default() -> Self {
        LovaszSoftmax { present_only: true }
    }
}

/// One sum-based loss with its parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Loss {
    /// Dice loss.
    Dice(Dice),
    /// IoU / Jaccard loss.
    Iou(Iou),
    /// Tversky and focal Tversky loss.
    Tversky(Tversky),
    /// Binary cross-entropy.
    Bce(Bce),
    /// BCE + Dice.
    BceDice(BceDice),
    /// Focal loss.
    Focal(Focal),
    /// Combo loss.
    Combo(Combo),
    /// Softmax cross-entropy (multiclass).
    CrossEntropy(CrossEntropy),
    /// Dice + cross-entropy (multiclass).
    DiceCe(DiceCe),
    /// Generalized Dice (Sudre et al. 2017; multiclass and multilabel).
    GeneralizedDice(GeneralizedDice),
    /// Lovasz hinge (Berman et al. 2018; binary and multilabel logits).
    LovaszHinge(LovaszHinge),
    /// Lovasz softmax (Berman et al. 2018; multiclass).
    LovaszSoftmax(LovaszSoftmax),
}

impl Loss {
    /// The loss's name as printed in tables.
    pub fn name(&self) -> &'static str {
        match self {
            Loss::Dice(_) => "dice",
            Loss::Iou(_) => "iou",
            Loss::Tversky(t) if t.gamma != 1.0 => "focal_tversky",
            Loss::Tversky(_) => "tversky",
            Loss::Bce(_) => "bce",
            Loss::BceDice(_) => "bce_dice",
            Loss::Focal(_) => "focal",
            Loss::Combo(_) => "combo",
            Loss::CrossEntropy(_) => "cross_entropy",
            Loss::DiceCe(_) => "dice_ce",
            Loss::GeneralizedDice(_) => "generalized_dice",
            Loss::LovaszHinge(_) => "lovasz_hinge",
            Loss::LovaszSoftmax(_) => "lovasz_softmax",
        }
    }

    /// Checks every parameter's domain.
    pub fn validate(&self) -> Result<()> {
        match self {
            Loss::Dice(d) => d.validate(),
            Loss::Iou(l) => l.validate(),
            Loss::Tversky(l) => l.validate(),
            Loss::Bce(l) => l.validate(),
            Loss::BceDice(l) => {
                l.bce.validate()?;
                l.dice.validate()?;
                finite("BceDice", "weight_bce", l.weight_bce)?;
                finite("BceDice", "weight_dice", l.weight_dice)
            }
            Loss::Focal(l) => l.validate(),
            Loss::Combo(l) => l.validate(),
            Loss::CrossEntropy(l) => l.validate(),
            Loss::DiceCe(l) => {
                l.dice.validate()?;
                l.ce.validate()?;
                finite("DiceCe", "weight_dice", l.weight_dice)?;
                finite("DiceCe", "weight_ce", l.weight_ce)
            }
            Loss::GeneralizedDice(l) => l.validate(),
            Loss::LovaszHinge(_) | Loss::LovaszSoftmax(_) => Ok(()),
        }
    }

    /// Whether the loss needs a sort (Lovasz) rather than the fused sums.
    pub fn is_lovasz(&self) -> bool {
        matches!(self, Loss::LovaszHinge(_) | Loss::LovaszSoftmax(_))
    }

    /// The loss of one binary segment (one image, or one (image, class) plane) and
    /// ∂loss/∂S; `None` for the losses defined over all classes of a segment at once
    /// (cross-entropy, Dice + CE, Generalized Dice), which `aggregate` evaluates.
    pub fn value_and_coefficients(&self, s: &Stats) -> Option<(f64, Coefficients)> {
        Some(match self {
            Loss::Dice(l) => l.value_and_coefficients(s),
            Loss::Iou(l) => l.value_and_coefficients(s),
            Loss::Tversky(l) => l.value_and_coefficients(s),
            Loss::Bce(l) => l.value_and_coefficients(s),
            Loss::BceDice(l) => {
                let (b, db) = l.bce.value_and_coefficients(s);
                let (d, dd) = l.dice.value_and_coefficients(s);
                (l.weight_bce * b + l.weight_dice * d, db.scaled(l.weight_bce).plus(&dd.scaled(l.weight_dice)))
            }
            Loss::Focal(l) => l.value_and_coefficients(s),
            Loss::Combo(l) => l.value_and_coefficients(s),
            Loss::CrossEntropy(_)
            | Loss::DiceCe(_)
            | Loss::GeneralizedDice(_)
            | Loss::LovaszHinge(_)
            | Loss::LovaszSoftmax(_) => return None,
        })
    }

    /// This loss aggregated per image (mean over images).
    pub fn per_image(self) -> Term {
        Term {
            loss: self,
            aggregation: Aggregation::PerImage,
            weight: 1.0,
            classes: ClassOptions::default(),
            undefined_images: None,
        }
    }

    /// This loss over the whole batch as one segment.
    pub fn batch(self) -> Term {
        Term {
            loss: self,
            aggregation: Aggregation::Batch,
            weight: 1.0,
            classes: ClassOptions::default(),
            undefined_images: None,
        }
    }
}

/// A loss with its aggregation, its class options and its weight in a weighted sum of losses.
#[derive(Debug, Clone, PartialEq)]
pub struct Term {
    /// The loss.
    pub loss: Loss,
    /// Per image or whole batch.
    pub aggregation: Aggregation,
    /// Weight in the total whose gradient `value_and_grad` returns.
    pub weight: f64,
    /// How classes are weighted, selected and averaged (multiclass and multilabel).
    pub classes: ClassOptions,
    /// `PerImage`: the value of an image whose loss is undefined (no valid pixel, or every
    /// class it would average skipped or weighted 0). `None` (default) leaves it out of the
    /// mean over images; `Some(v)` counts it as v with zero gradient (kornia counts such an
    /// image as 1, MONAI as its smoothed value, smp's per-image Lovasz as 0).
    pub undefined_images: Option<f64>,
}

impl Term {
    /// The same term with another weight.
    pub fn weighted(mut self, weight: f64) -> Term {
        self.weight = weight;
        self
    }

    /// The same term counting images with an undefined loss as `value` (see `undefined_images`).
    pub fn counting_undefined_images(mut self, value: f64) -> Term {
        self.undefined_images = Some(value);
        self
    }

    /// The same term with other class options.
    pub fn with_classes(mut self, classes: ClassOptions) -> Term {
        self.classes = classes;
        self
    }

    /// Name with aggregation, e.g. `dice/per_image`.
    pub fn label(&self) -> String {
        let agg = match self.aggregation {
            Aggregation::Batch => "batch",
            Aggregation::PerImage => "per_image",
        };
        format!("{}/{}", self.loss.name(), agg)
    }
}

impl From<Loss> for Term {
    fn from(loss: Loss) -> Term {
        loss.batch()
    }
}

/// ∂f/∂S for the sums a pixel's input influences (Σt and Σt² do not depend on it).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Coefficients {
    /// ∂f/∂Σp
    pub sp: f64,
    /// ∂f/∂Σpt
    pub tp: f64,
    /// ∂f/∂Σp²
    pub spp: f64,
    /// ∂f/∂Σ|p−t|
    pub sad: f64,
    /// ∂f/∂ΣBCE
    pub bce: f64,
    /// ∂f/∂ΣFocal
    pub focal: f64,
    /// ∂f/∂ΣWCE
    pub wce: f64,
    /// ∂f/∂Σmin(p, t): the soft true positives of `TpForm::SoftL1`, (Σp + Σt − Σ|p−t|)/2.
    /// Kept apart from `sp` and `sad` (whose halves would cancel in f32 where the score is
    /// near 0); a pixel's derivative is [p < t] (½ at p = t).
    pub smin: f64,
}

impl Coefficients {
    /// Every coefficient times `k`.
    pub fn scaled(&self, k: f64) -> Coefficients {
        Coefficients {
            sp: self.sp * k,
            tp: self.tp * k,
            spp: self.spp * k,
            sad: self.sad * k,
            bce: self.bce * k,
            focal: self.focal * k,
            wce: self.wce * k,
            smin: self.smin * k,
        }
    }

    /// The sum of two coefficient sets.
    pub fn plus(&self, o: &Coefficients) -> Coefficients {
        Coefficients {
            sp: self.sp + o.sp,
            tp: self.tp + o.tp,
            spp: self.spp + o.spp,
            sad: self.sad + o.sad,
            bce: self.bce + o.bce,
            focal: self.focal + o.focal,
            wce: self.wce + o.wce,
            smin: self.smin + o.smin,
        }
    }
}

/// The per-pixel parameters the fused pass needs: one set per call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PixelParams {
    /// BCE positive weight.
    pub pos_weight: f64,
    /// BCE label smoothing.
    pub label_smoothing: f64,
    /// Focal α (None: both classes weigh 1).
    pub focal_alpha: Option<f64>,
    /// Focal γ.
    pub focal_gamma: f64,
    /// Combo's β.
    pub wce_beta: f64,
    /// The focal factor's form for soft targets.
    pub focal_form: FocalForm,
}

impl Default for PixelParams {
    fn default() -> Self {
        let (b, f, c) = (Bce::default(), Focal::default(), Combo::default());
        PixelParams {
            pos_weight: b.pos_weight,
            label_smoothing: b.label_smoothing,
            focal_alpha: f.alpha,
            focal_gamma: f.gamma,
            wce_beta: c.beta,
            focal_form: f.form,
        }
    }
}

impl PixelParams {
    /// Validates `terms` and collects their per-pixel parameters. Two terms that need
    /// different values of the same per-pixel term are an error.
    pub fn from_terms(terms: &[Term]) -> Result<PixelParams> {
        if terms.is_empty() {
            return Err(Error::InvalidRequest("no loss requested".into()));
        }
        let mut p = PixelParams::default();
        let (mut bce_from, mut focal_from, mut wce_from) = (None, None, None);
        for (i, term) in terms.iter().enumerate() {
            term.loss.validate()?;
            finite("Term", "weight", term.weight)?;
            let bce = match &term.loss {
                Loss::Bce(b) => Some(*b),
                Loss::BceDice(bd) => Some(bd.bce),
                _ => None,
            };
            if let Some(b) = bce {
                let v = (b.pos_weight, b.label_smoothing);
                claim(&mut bce_from, i, "BCE", v == (p.pos_weight, p.label_smoothing))?;
                (p.pos_weight, p.label_smoothing) = v;
            }
            term.classes.validate()?;
            if let Loss::Focal(f) = &term.loss {
                let same = (f.alpha, f.gamma, f.form) == (p.focal_alpha, p.focal_gamma, p.focal_form);
                claim(&mut focal_from, i, "focal", same)?;
                (p.focal_alpha, p.focal_gamma, p.focal_form) = (f.alpha, f.gamma, f.form);
            }
            if let Loss::Combo(c) = &term.loss {
                claim(&mut wce_from, i, "weighted-CE", c.beta == p.wce_beta)?;
                p.wce_beta = c.beta;
            }
        }
        Ok(p)
    }
}

/// Records that term `i` sets a per-pixel term; a second term must agree with the first.
fn claim(from: &mut Option<usize>, i: usize, what: &'static str, same: bool) -> Result<()> {
    match *from {
        Some(first) if !same => Err(Error::ConflictingPixelParams { what, first, second: i }),
        Some(_) => Ok(()),
        None => {
            *from = Some(i);
            Ok(())
        }
    }
}

/// `num/max(den, eps)` and its derivative from those of `num` and `den`; the clamp, when
/// active, makes the denominator a constant.
pub(crate) fn ratio(num: f64, dnum: Coefficients, den: f64, dden: Coefficients, eps: f64) -> (f64, Coefficients) {
    if den > eps {
        (num / den, dnum.scaled(1.0 / den).plus(&dden.scaled(-num / (den * den))))
    } else {
        (num / eps, dnum.scaled(1.0 / eps))
    }
}

/// A pixel-wise sum turned into a mean over the valid pixels or kept as a sum.
pub(crate) fn reduce(sum: f64, s: &Stats, r: Reduction, coeff: impl Fn(f64) -> Coefficients) -> (f64, Coefficients) {
    let scale = match r {
        Reduction::Mean => 1.0 / s.count.max(1) as f64,
        Reduction::Sum => 1.0,
    };
    (sum * scale, coeff(scale))
}

pub(crate) fn invalid(loss: &'static str, param: &'static str, value: f64, reason: &'static str) -> Error {
    Error::InvalidParameter { loss, param, value, reason }
}

pub(crate) fn finite(loss: &'static str, param: &'static str, v: f64) -> Result<()> {
    if v.is_finite() {
        Ok(())
    } else {
        Err(invalid(loss, param, v, "must be finite"))
    }
}

pub(crate) fn non_negative(loss: &'static str, param: &'static str, v: f64) -> Result<()> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(invalid(loss, param, v, "must be finite and >= 0"))
    }
}

pub(crate) fn unit_interval(loss: &'static str, param: &'static str, v: f64) -> Result<()> {
    if (0.0..=1.0).contains(&v) {
        Ok(())
    } else {
        Err(invalid(loss, param, v, "must be in [0, 1]"))
    }
}

/// A denominator `sums + smooth` clamped at `eps` is positive only if `smooth + eps > 0`.
pub(crate) fn positive_sum(loss: &'static str, param: &'static str, smooth: f64, eps: f64) -> Result<()> {
    if smooth + eps > 0.0 {
        Ok(())
    } else {
        Err(invalid(loss, param, smooth, "smoothing and eps are both 0: an empty segment would divide by zero"))
    }
}
