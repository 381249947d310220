//! segmentation_models_pytorch 0.6.0 (`smp.losses`).
//!
//! Dice, Jaccard and Tversky are one formula in smp (`soft_tversky_score`): TP from the L1
//! form `(Σp + Σt − Σ|p−t|)/2`, `score = (TP + smooth)/clamp_min(TP + α·FP + β·FN + smooth, eps)`
//! (Dice: α = β = ½, which doubles `smooth` against the textbook Dice; Jaccard: α = β = 1),
//! statistics summed over the batch and the pixels together (one score per class), a class
//! without a true pixel contributing 0 but counted in the mean, and Tversky's γ applied to
//! the class mean. They map onto [`Tversky`] with `tp_form = SoftL1`, `Batch` aggregation and
//! `AbsentClass::Zero`.

use super::{part, Activation, InputSpec, Kw, Part, Scale, TargetKind, Transform};
use crate::error::Result;
use crate::loss::{Bce, CrossEntropy, Focal, Loss, LovaszHinge, LovaszSoftmax, Mcc, Reduction, TpForm, Tversky};
use crate::options::{AbsentClass, ClassOptions, ClassSelection};
use crate::pixel::FocalForm;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    Dice,
    Jaccard,
    Tversky,
    Focal,
    Lovasz,
    SoftBce,
    SoftCe,
    Mcc,
}

pub(crate) const NAMES: &[&str] = &[
    "DiceLoss",
    "JaccardLoss",
    "TverskyLoss",
    "FocalLoss",
    "LovaszLoss",
    "SoftBCEWithLogitsLoss",
    "SoftCrossEntropyLoss",
    "MCCLoss",
];

pub(crate) fn class(name: &str) -> Option<Class> {
    Some(match name {
        "DiceLoss" => Class::Dice,
        "JaccardLoss" => Class::Jaccard,
        "TverskyLoss" => Class::Tversky,
        "FocalLoss" => Class::Focal,
        "LovaszLoss" => Class::Lovasz,
        "SoftBCEWithLogitsLoss" => Class::SoftBce,
        "SoftCrossEntropyLoss" => Class::SoftCe,
        "MCCLoss" => Class::Mcc,
        _ => return None,
    })
}

pub(crate) fn keywords(c: Class) -> Vec<&'static str> {
    let region = ["mode", "classes", "log_loss", "from_logits", "smooth", "ignore_index", "eps", "class_weights"];
    match c {
        Class::Dice | Class::Jaccard => region.to_vec(),
        Class::Tversky => [&region[..], &["alpha", "beta", "gamma"]].concat(),
        Class::Focal => vec![
            "mode",
            "alpha",
            "gamma",
            "ignore_index",
            "from_logits",
            "eps",
            "reduction",
            "normalized",
            "reduced_threshold",
            "class_weights",
        ],
        Class::Lovasz => vec!["mode", "per_image", "ignore_index", "from_logits"],
        Class::SoftBce => vec!["weight", "ignore_index", "reduction", "smooth_factor", "pos_weight"],
        Class::SoftCe => vec!["reduction", "smooth_factor", "ignore_index", "dim"],
        Class::Mcc => vec!["eps"],
    }
}

pub(crate) fn is_single_channel(c: Class, kw: &Kw) -> bool {
    matches!(c, Class::Dice | Class::Jaccard | Class::Tversky | Class::Focal | Class::Lovasz)
        && kw.opt_str("mode").ok().flatten() == Some("binary")
}

fn mode<'a>(kw: &'a Kw) -> Result<&'a str> {
    match kw.opt_str("mode")? {
        None => Err(kw.err("mode", "required: 'binary', 'multiclass' or 'multilabel'")),
        Some(m @ ("binary" | "multiclass" | "multilabel")) => Ok(m),
        Some(_) => Err(kw.err("mode", "accepted: binary, multiclass, multilabel")),
    }
}

fn ignore(kw: &Kw) -> Result<Option<f64>> {
    Ok(kw.opt_i64("ignore_index")?.map(|x| x as f64))
}

fn class_options(kw: &Kw, mode: &str, absent: AbsentClass) -> Result<ClassOptions> {
    let weights = kw.opt_list("class_weights")?;
    if mode == "binary" && weights.is_some() {
        return Err(kw.err("class_weights", "not supported with mode=binary (smp raises ValueError)"));
    }
    let classes = kw.opt_classes("classes")?;
    if mode == "binary" && classes.is_some() {
        return Err(kw.err("classes", "masking classes is not supported with mode=binary (smp asserts)"));
    }
    Ok(ClassOptions {
        weights,
        normalize_weights: true,
        selection: classes.map_or(ClassSelection::All, ClassSelection::Only),
        absent,
        pool: false,
        class_distances: None,
    })
}

fn binary_input(kw: &Kw, from_logits: bool) -> Result<InputSpec> {
    Ok(InputSpec {
        activation: if from_logits { Activation::Sigmoid } else { Activation::Probabilities },
        target: TargetKind::Float,
        ignore: ignore(kw)?,
    })
}

pub(crate) fn parts(c: Class, kw: &Kw, channels: usize) -> Result<Vec<Part>> {
    match c {
        Class::Dice | Class::Jaccard | Class::Tversky => region(c, kw, channels),
        Class::Focal => focal(kw),
        Class::Lovasz => lovasz(kw),
        Class::SoftBce => soft_bce(kw, channels),
        Class::SoftCe => soft_ce(kw),
        Class::Mcc => Ok(vec![mcc(kw)?]),
    }
}

/// `MCCLoss(eps)`: probabilities as given (no sigmoid), every element of the batch one
/// confusion matrix (smp reshapes to `[N, 1, -1]` and sums all of it): the channels pooled,
/// over the batch; eps added to each of TP, TN, FP, FN.
fn mcc(kw: &Kw) -> Result<Part> {
    let eps = kw.f64("eps", 1e-5)?;
    let input = InputSpec { activation: Activation::Probabilities, target: TargetKind::Float, ignore: None };
    let classes = ClassOptions { pool: true, ..ClassOptions::default() };
    Ok(part(input, "smp.MCCLoss", Loss::Mcc(Mcc::smp(eps)).batch().with_classes(classes), Scale::default()))
}

fn region(c: Class, kw: &Kw, channels: usize) -> Result<Vec<Part>> {
    let mode = mode(kw)?;
    let from_logits = kw.bool("from_logits", true)?;
    let (alpha, beta, gamma) = match c {
        Class::Dice => (0.5, 0.5, 1.0),
        Class::Jaccard => (1.0, 1.0, 1.0),
        _ => (kw.f64("alpha", 0.5)?, kw.f64("beta", 0.5)?, kw.f64("gamma", 1.0)?),
    };
    let loss = Tversky {
        alpha,
        beta,
        smooth: kw.f64("smooth", 0.0)?,
        eps: kw.f64("eps", 1e-7)?,
        gamma,
        smooth_dr: None,
        tp_form: TpForm::SoftL1,
        log_loss: kw.bool("log_loss", false)?,
        gamma_after_class_mean: true,
        squared: false,
    };
    let input = match mode {
        "multiclass" if from_logits => {
            InputSpec { activation: Activation::Softmax, target: TargetKind::ClassMap, ignore: ignore(kw)? }
        }
        // Probabilities over a one-hot encoding of the class map: the same sums, without a softmax.
        "multiclass" => {
            InputSpec { activation: Activation::Probabilities, target: TargetKind::OneHot, ignore: ignore(kw)? }
        }
        _ => binary_input(kw, from_logits)?,
    };
    let _ = channels;
    let term = Loss::Tversky(loss).batch().with_classes(class_options(kw, mode, AbsentClass::Zero)?);
    let name = match c {
        Class::Dice => "smp.DiceLoss",
        Class::Jaccard => "smp.JaccardLoss",
        _ => "smp.TverskyLoss",
    };
    Ok(vec![part(input, name, term, Scale::default())])
}

fn reduction(kw: &Kw) -> Result<Reduction> {
    match kw.str_or("reduction", "mean")? {
        "mean" => Ok(Reduction::Mean),
        "sum" => Ok(Reduction::Sum),
        _ => Err(kw.err("reduction", "accepted: mean, sum (a loss must be a scalar)")),
    }
}

fn focal(kw: &Kw) -> Result<Vec<Part>> {
    let mode = mode(kw)?;
    if kw.bool("normalized", false)? {
        return Err(kw.err("normalized", "the normalized focal loss is not supported"));
    }
    kw.unsupported("reduced_threshold", "the reduced focal loss is not supported")?;
    // from_logits=False: smp clamps p to [eps, 1 − eps] and takes logit(p) (multiclass: ln p).
    let eps = kw.f64("eps", 1e-7)?;
    let transform = match (kw.bool("from_logits", true)?, mode) {
        (true, _) => Transform::Identity,
        (false, "multiclass") => Transform::ClampedLog(eps),
        (false, _) => Transform::ClampedLogit(eps),
    };
    let loss = Focal {
        alpha: kw.opt_f64("alpha")?,
        gamma: kw.f64("gamma", 2.0)?,
        reduction: reduction(kw)?,
        form: FocalForm::ExpBce,
    };
    let ig = ignore(kw)?;
    let (input, classes) = match mode {
        // Every valid element in one mean.
        "binary" => (
            InputSpec { activation: Activation::Sigmoid, target: TargetKind::Float, ignore: ig },
            ClassOptions { pool: true, ..ClassOptions::default() },
        ),
        // One-vs-rest sigmoid focal per class, mean (or weighted mean) over classes.
        "multiclass" => (
            InputSpec { activation: Activation::Sigmoid, target: TargetKind::OneHot, ignore: ig },
            class_options(kw, mode, AbsentClass::Smoothed)?,
        ),
        _ => {
            if ig.is_some() {
                return Err(kw.err("ignore_index", "smp's multilabel FocalLoss cannot index with an ignore mask"));
            }
            (
                InputSpec { activation: Activation::Sigmoid, target: TargetKind::Float, ignore: None },
                class_options(kw, mode, AbsentClass::Smoothed)?,
            )
        }
    };
    let mut p = part(input, "smp.FocalLoss", Loss::Focal(loss).batch().with_classes(classes), Scale::default());
    p.transform = transform;
    Ok(vec![p])
}

fn lovasz(kw: &Kw) -> Result<Vec<Part>> {
    let mode = mode(kw)?;
    // smp's LovaszLoss ignores from_logits: the hinge takes the input as logits and the
    // multiclass loss always applies a softmax.
    let _ = kw.bool("from_logits", true)?;
    let per_image = kw.bool("per_image", false)?;
    let ig = ignore(kw)?;
    let (input, loss) = if mode == "multiclass" {
        (
            InputSpec { activation: Activation::Softmax, target: TargetKind::ClassMap, ignore: ig },
            Loss::LovaszSoftmax(LovaszSoftmax { present_only: true }),
        )
    } else {
        (
            InputSpec { activation: Activation::Sigmoid, target: TargetKind::Float, ignore: ig },
            Loss::LovaszHinge(LovaszHinge),
        )
    };
    // Per image, an image without a valid pixel (or, multiclass, without a present class) counts as 0.
    let term = if per_image { loss.per_image().counting_undefined_images(0.0) } else { loss.batch() };
    Ok(vec![part(input, "smp.LovaszLoss", term, Scale::default())])
}

fn soft_bce(kw: &Kw, channels: usize) -> Result<Vec<Part>> {
    // A scalar weight scales the loss; a per-channel weight (shape (C,1,1)) weighs the channels.
    let (weights, factor) = match kw.opt_list("weight")? {
        None => (None, 1.0),
        Some(w) if !kw.is_list("weight") || w.len() == 1 => (None, w[0]),
        Some(w) if channels_of(kw, "weight") == Some(w.len()) => {
            if w.len() != channels {
                return Err(kw.err("weight", format!("needs one value per channel ({channels}), got {}", w.len())));
            }
            (Some(w), 1.0)
        }
        Some(_) => return Err(kw.err("weight", "only a scalar or a per-channel (C,1,1) weight is supported")),
    };
    // A per-channel pos_weight (shape (C,1,1)): one part per channel, each with its own.
    let pos_weights = match kw.opt_list("pos_weight")? {
        None => vec![1.0],
        Some(v) if v.len() == 1 => v,
        Some(v) if channels_of(kw, "pos_weight") == Some(v.len()) => v,
        Some(_) => return Err(kw.err("pos_weight", "only a scalar or a per-channel (C,1,1) pos_weight is supported")),
    };
    let f = kw.f64("smooth_factor", 0.0)?;
    if !(0.0..0.5).contains(&f) {
        return Err(kw.err("smooth_factor", "must be in [0, 0.5)"));
    }
    let red = reduction(kw)?;
    let ig = match kw.map.get("ignore_index") {
        None => Some(-100.0),
        Some(_) => ignore(kw)?,
    };
    let input = InputSpec { activation: Activation::Sigmoid, target: TargetKind::Float, ignore: ig };
    // Ignored elements are zeroed but stay in the mean's denominator: a sum over every element
    // divided by N·C·H·W.
    let scale = if red == Reduction::Mean { Scale::per_element() } else { Scale::default() };
    let name = "smp.SoftBCEWithLogitsLoss";
    if pos_weights.len() == 1 {
        let loss = Bce { pos_weight: pos_weights[0], label_smoothing: 2.0 * f, reduction: Reduction::Sum };
        let classes = ClassOptions { weights, pool: true, ..ClassOptions::default() };
        let term = Loss::Bce(loss).batch().with_classes(classes).weighted(factor);
        return Ok(vec![part(input, name, term, scale)]);
    }
    if pos_weights.len() != channels {
        return Err(kw.err("pos_weight", format!("needs one value per channel ({channels})")));
    }
    Ok(pos_weights
        .iter()
        .enumerate()
        .map(|(k, &pw)| {
            let loss = Bce { pos_weight: pw, label_smoothing: 2.0 * f, reduction: Reduction::Sum };
            let w = factor * weights.as_ref().map_or(1.0, |w| w[k]);
            let mut p = part(input, name, Loss::Bce(loss).batch().weighted(w), scale);
            p.channel = Some(k);
            p
        })
        .collect())
}

/// The length of a `(C, 1, 1)`-shaped list (a per-channel tensor), if it is one.
fn channels_of(kw: &Kw, key: &str) -> Option<usize> {
    let v = kw.map.get(key)?;
    let v = v.get("tensor").unwrap_or(v);
    let outer = v.as_array()?;
    outer
        .iter()
        .all(|x| x.as_array().is_some_and(|r| r.len() == 1 && r[0].as_array().is_some_and(|c| c.len() == 1)))
        .then_some(outer.len())
}

fn soft_ce(kw: &Kw) -> Result<Vec<Part>> {
    let Some(eps) = kw.opt_f64("smooth_factor")? else {
        return Err(kw.err("smooth_factor", "smp 0.6.0 fails without a smooth_factor (None / C); give a number"));
    };
    if kw.opt_i64("dim")?.unwrap_or(1) != 1 {
        return Err(kw.err("dim", "only dim=1 (the class axis of NCHW) is supported"));
    }
    let red = reduction(kw)?;
    let ig = match kw.map.get("ignore_index") {
        None => Some(-100.0),
        Some(_) => ignore(kw)?,
    };
    let input = InputSpec { activation: Activation::Softmax, target: TargetKind::ClassMap, ignore: ig };
    // Mean over every pixel, ignored ones included.
    let term = Loss::CrossEntropy(CrossEntropy { label_smoothing: eps, reduction: Reduction::Sum }).batch();
    let scale = if red == Reduction::Mean { Scale::per_pixel() } else { Scale::default() };
    Ok(vec![part(input, "smp.SoftCrossEntropyLoss", term, scale)])
}
