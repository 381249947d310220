//! MONAI 1.6.1 (`monai.losses`).
//!
//! Region losses are computed per (image, class) (`batch=True`: per class over the batch) and
//! averaged over N·C (`reduction="mean"`) with `weight` multiplying each class term without
//! renormalising; absent classes keep their smoothed value. `include_background=False` drops
//! channel 0 after the activation. The focal loss is the sigmoid focal per channel (its
//! `1 − p_t = σ(x·(1−2t))`, `FocalForm::LogSigmoid`) or, with `use_softmax`, the softmax focal
//! averaged over N·C·H·W (per pixel / C). `DiceCELoss` adds PyTorch's cross-entropy on the raw
//! logits (1 channel: `BCEWithLogits(pos_weight=weight)`), `DiceFocalLoss` the sigmoid focal.

use super::{part, Activation, InputSpec, Kw, Part, Scale, TargetKind};
use crate::error::Result;
use crate::loss::{
    Bce, Boundary, ClDice, CrossEntropy, Dice, Focal, GdlWeighting, GeneralizedDice, HausdorffDt, Loss, Mcc, Reduction,
    TpForm, Tversky, WassersteinDice, WassersteinWeighting,
};
use crate::options::{ClassOptions, ClassSelection};
use crate::pixel::FocalForm;
use crate::term::Term;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    Dice,
    GeneralizedDice,
    DiceCe,
    DiceFocal,
    Focal,
    Tversky,
    Mcc,
    GeneralizedDiceFocal,
    HausdorffDt,
    LogHausdorffDt,
    Boundary,
    SoftClDice,
    SoftDiceClDice,
    WassersteinDice,
}

pub(crate) const NAMES: &[&str] = &[
    "DiceLoss",
    "GeneralizedDiceLoss",
    "DiceCELoss",
    "DiceFocalLoss",
    "FocalLoss",
    "TverskyLoss",
    "MCCLoss",
    "GeneralizedDiceFocalLoss",
    "HausdorffDTLoss",
    "LogHausdorffDTLoss",
    "BoundaryLoss",
    "SoftclDiceLoss",
    "SoftDiceclDiceLoss",
    "GeneralizedWassersteinDiceLoss",
];

pub(crate) fn class(name: &str) -> Option<Class> {
    Some(match name {
        "DiceLoss" => Class::Dice,
        "GeneralizedDiceLoss" => Class::GeneralizedDice,
        "DiceCELoss" => Class::DiceCe,
        "DiceFocalLoss" => Class::DiceFocal,
        "FocalLoss" => Class::Focal,
        "TverskyLoss" => Class::Tversky,
        "MCCLoss" => Class::Mcc,
        "GeneralizedDiceFocalLoss" => Class::GeneralizedDiceFocal,
        "HausdorffDTLoss" => Class::HausdorffDt,
        "LogHausdorffDTLoss" => Class::LogHausdorffDt,
        "BoundaryLoss" => Class::Boundary,
        "SoftclDiceLoss" => Class::SoftClDice,
        "SoftDiceclDiceLoss" => Class::SoftDiceClDice,
        "GeneralizedWassersteinDiceLoss" => Class::WassersteinDice,
        _ => return None,
    })
}

const ACT: &[&str] = &["include_background", "to_onehot_y", "sigmoid", "softmax", "other_act"];
const SMOOTH: &[&str] = &["reduction", "smooth_nr", "smooth_dr", "batch"];

pub(crate) fn keywords(c: Class) -> Vec<&'static str> {
    let extra: &[&str] = match c {
        Class::Dice => &["squared_pred", "jaccard", "weight", "soft_label", "ignore_index"],
        Class::GeneralizedDice => &["w_type", "soft_label"],
        Class::DiceCe => &["squared_pred", "jaccard", "weight", "lambda_dice", "lambda_ce", "label_smoothing"],
        Class::DiceFocal => &["squared_pred", "jaccard", "gamma", "weight", "lambda_dice", "lambda_focal", "alpha"],
        Class::Tversky => &["alpha", "beta", "soft_label", "ignore_index"],
        Class::Mcc => &[],
        Class::HausdorffDt | Class::LogHausdorffDt => &["alpha"],
        Class::Boundary => &[],
        Class::GeneralizedDiceFocal => &["w_type", "gamma", "weight", "lambda_gdl", "lambda_focal"],
        // No `batch`: MONAI's clDice losses do not take it.
        Class::SoftClDice => return [ACT, &["reduction", "smooth_nr", "smooth_dr", "iter_", "smooth"]].concat(),
        Class::SoftDiceClDice => {
            return [ACT, &["reduction", "smooth_nr", "smooth_dr", "iter_", "smooth", "alpha"]].concat();
        }
        Class::WassersteinDice => return vec!["dist_matrix", "weighting_mode", "reduction", "smooth_nr", "smooth_dr"],
        Class::Focal => {
            return vec![
                "include_background",
                "to_onehot_y",
                "gamma",
                "alpha",
                "weight",
                "reduction",
                "use_softmax",
                "ignore_index",
            ]
        }
    };
    [ACT, SMOOTH, extra].concat()
}

/// The reading of the arrays shared by the region losses, and the class selection.
fn region_input(kw: &Kw, c: usize) -> Result<(InputSpec, ClassSelection)> {
    input_with_background(kw, c, true)
}

/// [`region_input`] with the loss's own default of `include_background`.
fn input_with_background(kw: &Kw, c: usize, background: bool) -> Result<(InputSpec, ClassSelection)> {
    kw.unsupported("other_act", "only sigmoid / softmax / none are supported")?;
    let (sigmoid, softmax) = (kw.bool("sigmoid", false)?, kw.bool("softmax", false)?);
    if sigmoid && softmax {
        return Err(kw.err("softmax", "sigmoid=True and softmax=True are incompatible (MONAI raises)"));
    }
    let onehot_y = kw.bool("to_onehot_y", false)? && c > 1;
    let activation = if sigmoid {
        Activation::Sigmoid
    } else if softmax && c > 1 {
        Activation::Softmax
    } else {
        Activation::Probabilities
    };
    let target = match (activation, onehot_y) {
        (Activation::Softmax, _) => TargetKind::ClassMap,
        (_, true) => TargetKind::OneHot,
        _ => TargetKind::Float,
    };
    let ignore = kw.opt_i64("ignore_index")?.map(|x| x as f64);
    if ignore.is_some() && c > 1 && !onehot_y {
        return Err(kw.err("ignore_index", "with one-hot targets (to_onehot_y=False) it is not supported"));
    }
    let selection = if !kw.bool("include_background", background)? && c > 1 {
        ClassSelection::NoBackground
    } else {
        ClassSelection::All
    };
    Ok((InputSpec { activation, target, ignore }, selection))
}

fn selected(selection: &ClassSelection, c: usize) -> usize {
    if *selection == ClassSelection::NoBackground {
        c - 1
    } else {
        c
    }
}

/// MONAI's `weight` for the selected classes → (per-class weights over all C, scalar factor).
fn class_weights(kw: &Kw, key: &str, selection: &ClassSelection, c: usize) -> Result<(Option<Vec<f64>>, f64)> {
    let Some(w) = kw.opt_list(key)? else { return Ok((None, 1.0)) };
    if w.iter().any(|&x| x < 0.0) {
        return Err(kw.err(key, "weights must be >= 0"));
    }
    if c == 1 {
        return Ok((None, if kw.is_list(key) { 1.0 } else { w[0] }));
    }
    let n = selected(selection, c);
    let w = if !kw.is_list(key) {
        vec![w[0]; n]
    } else if w.len() == n {
        w
    } else {
        return Err(kw.err(key, format!("needs one weight per class used ({n})")));
    };
    let mut full = if n < c { vec![0.0] } else { vec![] };
    full.extend(w);
    Ok((Some(full), 1.0))
}

fn reduction<'a>(kw: &'a Kw) -> Result<&'a str> {
    kw.choice("reduction", "mean", &["mean", "sum"])
        .map_err(|_| kw.err("reduction", "accepted: mean, sum (a loss must be a scalar)"))
}

/// mean → 1; sum → the number of (image, class) terms averaged (N·C' or C' with batch).
fn region_scale(kw: &Kw, selection: &ClassSelection, batch: bool, per_class: bool) -> Result<Scale> {
    if reduction(kw)? == "mean" {
        return Ok(Scale::default());
    }
    let dropped = (*selection == ClassSelection::NoBackground) as usize;
    Ok(Scale { images: (!batch) as i32, classes: per_class as i32, pixels: 0, dropped_classes: dropped })
}

fn aggregate(loss: Loss, batch: bool) -> Term {
    if batch {
        loss.batch()
    } else {
        loss.per_image()
    }
}

/// Smoothing that must keep a denominator positive for segloss's checks: 0 becomes the
/// smallest positive f64 (MONAI's 0/0 is NaN either way).
fn positive(x: f64) -> f64 {
    if x == 0.0 {
        f64::MIN_POSITIVE
    } else {
        x
    }
}

fn dice_part(kw: &Kw, c: usize, weight_key: Option<&str>) -> Result<Part> {
    let (input, selection) = region_input(kw, c)?;
    let (nr, dr) = (kw.f64("smooth_nr", 1e-5)?, kw.f64("smooth_dr", 1e-5)?);
    let squared = kw.bool("squared_pred", false)?;
    let soft = kw.bool("soft_label", false)?;
    let tp_form = if soft && !squared { TpForm::SoftL1 } else { TpForm::Product };
    let loss = if kw.bool("jaccard", false)? {
        // (2TP + nr)/(2(Σp + Σt − TP) + dr) = (TP + nr/2)/(TP + FP + FN + dr/2) (squared: Σp², Σt²).
        Loss::Tversky(Tversky {
            alpha: 1.0,
            beta: 1.0,
            smooth: nr / 2.0,
            eps: f64::MIN_POSITIVE,
            gamma: 1.0,
            smooth_dr: Some(positive(dr / 2.0)),
            tp_form,
            log_loss: false,
            gamma_after_class_mean: false,
            squared,
        })
    } else {
        Loss::Dice(Dice { smooth_nr: nr, smooth_dr: dr, eps: f64::MIN_POSITIVE, squared, log_loss: false, tp_form })
    };
    let batch = kw.bool("batch", false)?;
    // MONAI's Dice applies `weight` only when more than one class remains after
    // include_background (`num_of_classes != 1`); with one class it is ignored.
    let (weights, factor) = match weight_key {
        Some(k) if selected(&selection, c) > 1 => class_weights(kw, k, &selection, c)?,
        Some(k) => {
            class_weights(kw, k, &selection, c)?; // still validated
            (None, 1.0)
        }
        None => (None, 1.0),
    };
    let scale = region_scale(kw, &selection, batch, true)?;
    // An image without a valid pixel (all ignored) still counts, with every class at 1 − nr/dr.
    let n_sel = selected(&selection, c);
    let mean_w = weights.as_ref().map_or(1.0, |w| w.iter().sum::<f64>() / n_sel as f64);
    let classes = ClassOptions { weights, normalize_weights: false, selection, ..ClassOptions::default() };
    let term = aggregate(loss, batch).with_classes(classes).weighted(factor);
    let term = undefined(term, (1.0 - nr / dr) * mean_w);
    Ok(part(input, "dice", term, scale))
}

/// `GeneralizedDiceLoss`, alone or as the first part of `GeneralizedDiceFocalLoss`.
fn gdl_part(kw: &Kw, c: usize) -> Result<Part> {
    let (input, selection) = region_input(kw, c)?;
    let weighting = match kw.choice("w_type", "square", &["square", "simple", "uniform"])? {
        "square" => GdlWeighting::Square,
        "simple" => GdlWeighting::Simple,
        _ => GdlWeighting::Uniform,
    };
    let loss = Loss::GeneralizedDice(GeneralizedDice {
        weighting,
        smooth_nr: kw.f64("smooth_nr", 1e-5)?,
        smooth_dr: positive(kw.f64("smooth_dr", 1e-5)?),
        tp_form: if kw.bool("soft_label", false)? { TpForm::SoftL1 } else { TpForm::Product },
        all_absent_weight: 0.0,
    });
    let batch = kw.bool("batch", false)?;
    let scale = region_scale(kw, &selection, batch, false)?;
    let classes = ClassOptions { selection, ..ClassOptions::default() };
    let value = 1.0 - kw.f64("smooth_nr", 1e-5)? / kw.f64("smooth_dr", 1e-5)?;
    let term = undefined(aggregate(loss, batch).with_classes(classes), value);
    Ok(part(input, "gdl", term, scale))
}

fn focal_parts(kw: &Kw, c: usize, softmax: bool) -> Result<Vec<Part>> {
    let onehot_y = kw.bool("to_onehot_y", false)? && c > 1;
    let include_bg = kw.bool("include_background", true)?;
    let selection = if !include_bg && c > 1 { ClassSelection::NoBackground } else { ClassSelection::All };
    let ignore = kw.opt_i64("ignore_index")?.map(|x| x as f64);
    if ignore.is_some() && c > 1 && !onehot_y {
        return Err(kw.err("ignore_index", "with one-hot targets (to_onehot_y=False) it is not supported"));
    }
    let gamma = kw.f64("gamma", 2.0)?;
    let sum = reduction(kw)? == "sum";
    let (weights, factor) = class_weights(kw, "weight", &selection, c)?;
    let dropped = (selection == ClassSelection::NoBackground) as usize;
    if softmax {
        if c < 2 {
            return Err(kw.err("use_softmax", "needs more than one channel"));
        }
        if !include_bg {
            return softmax_focal_without_background(kw, c, gamma, sum, ignore);
        }
        let alpha: Option<Vec<f64>> = match kw.opt_list("alpha")? {
            None => None,
            Some(a) if !kw.is_list("alpha") => Some((0..c).map(|k| if k == 0 { 1.0 - a[0] } else { a[0] }).collect()),
            Some(a) if a.len() == c => Some(a),
            Some(_) => return Err(kw.err("alpha", format!("needs one value per class ({c})"))),
        };
        // A class weight below 0 (a negative value, or 1 − α of a scalar α above 1) is refused
        // here, by the keyword's name, as the sigmoid form refuses it.
        if alpha.as_ref().is_some_and(|a| a.iter().any(|&v| v < 0.0)) {
            return Err(kw.err("alpha", "values must be >= 0 (a scalar alpha in [0, 1])"));
        }
        let per_class = match (alpha, weights) {
            (None, None) => None,
            (a, w) => {
                Some((0..c).map(|k| a.as_ref().map_or(1.0, |a| a[k]) * w.as_ref().map_or(1.0, |w| w[k])).collect())
            }
        };
        let loss = Loss::Focal(Focal { alpha: None, gamma, reduction: Reduction::Mean, form: FocalForm::Probability });
        let classes = ClassOptions { weights: per_class, ..ClassOptions::default() };
        let input = InputSpec { activation: Activation::Softmax, target: TargetKind::ClassMap, ignore };
        // mean: over N·C·H·W (per pixel / C), or over the valid pixels with ignore_index;
        // sum: Σ over images of the per-image mean.
        let (term, scale) = if sum {
            (loss.per_image().counting_undefined_images(0.0), Scale { images: 1, ..Scale::default() })
        } else if ignore.is_some() {
            (loss.batch(), Scale::default())
        } else {
            (loss.batch(), Scale { classes: -1, ..Scale::default() })
        };
        return Ok(vec![part(input, "focal", term.with_classes(classes).weighted(factor), scale)]);
    }
    let target = if onehot_y { TargetKind::OneHot } else { TargetKind::Float };
    let input = InputSpec { activation: Activation::Sigmoid, target, ignore };
    let focal = |alpha| Loss::Focal(Focal { alpha, gamma, reduction: Reduction::Mean, form: FocalForm::LogSigmoid });
    if kw.is_list("alpha") {
        // MONAI weighs the elements whose target is exactly 1 by alpha[c] and every other one by
        // 1. On hard targets that is the focal α′ = a/(1 + a) times 1 + a, one part per channel
        // (the per-pixel α is one value per call); soft targets are refused.
        let alphas = kw.opt_list("alpha")?.unwrap_or_default();
        let n_sel = selected(&selection, c);
        if alphas.len() != n_sel || c < 2 {
            return Err(kw.err("alpha", format!("needs one value per channel used ({n_sel})")));
        }
        let scale = if sum {
            Scale { images: 1, ..Scale::default() }
        } else if ignore.is_some() {
            Scale::default()
        } else {
            Scale { classes: -1, dropped_classes: dropped, ..Scale::default() }
        };
        let mut parts = Vec::new();
        for (k, a) in (c - n_sel..c).zip(alphas) {
            if a < 0.0 {
                return Err(kw.err("alpha", "values must be >= 0"));
            }
            let loss = focal(Some(a / (1.0 + a)));
            let term = if sum { loss.per_image().counting_undefined_images(0.0) } else { loss.batch() };
            let w = (1.0 + a) * factor * weights.as_ref().map_or(1.0, |w| w[k]);
            let mut p = part(input, "focal", term.weighted(w), scale);
            p.channel = Some(k);
            p.hard_targets =
                Some("MONAI's per-class alpha weighs only targets equal to 1; soft targets are not supported");
            parts.push(p);
        }
        return Ok(parts);
    }
    let loss = focal(kw.opt_f64("alpha")?);
    let classes = ClassOptions { weights, normalize_weights: false, selection, ..ClassOptions::default() };
    let (term, scale) = if sum {
        let term = loss.per_image().counting_undefined_images(0.0);
        (term, Scale { images: 1, classes: 1, pixels: 0, dropped_classes: dropped })
    } else if ignore.is_some() {
        (loss.batch(), Scale { classes: 1, dropped_classes: dropped, ..Scale::default() })
    } else {
        (loss.batch(), Scale::default())
    };
    Ok(vec![part(input, "focal", term.with_classes(classes).weighted(factor), scale)])
}

/// Counts an image without a valid pixel as `value` (MONAI keeps it in the mean over N·C); when
/// smooth_dr = 0 MONAI's value is 0/0 = NaN, and segloss leaves the image out instead.
fn undefined(term: Term, value: f64) -> Term {
    if value.is_finite() {
        term.counting_undefined_images(value)
    } else {
        term
    }
}

/// MONAI's softmax focal with `include_background=False`: channel 0 is dropped *before* the
/// softmax; pixels of class 0 contribute 0 but stay in the mean over N·(C−1)·H·W; a scalar
/// alpha is ignored (MONAI warns), a list or `weight` has C − 1 entries.
fn softmax_focal_without_background(
    kw: &Kw,
    c: usize,
    gamma: f64,
    sum: bool,
    ignore: Option<f64>,
) -> Result<Vec<Part>> {
    if ignore.is_some() {
        return Err(kw.err("ignore_index", "with use_softmax=True and include_background=False it is not supported"));
    }
    let list = |key: &str| -> Result<Option<Vec<f64>>> {
        match kw.opt_list(key)? {
            Some(v) if kw.is_list(key) && v.len() != c - 1 => Err(kw.err(key, format!("needs {} values", c - 1))),
            Some(v) if kw.is_list(key) => Ok(Some(v)),
            _ => Ok(None),
        }
    };
    let (alpha, weight) = (list("alpha")?, list("weight")?);
    let factor = if kw.is_list("weight") { 1.0 } else { kw.opt_f64("weight")?.unwrap_or(1.0) };
    let per_class = match (alpha, weight) {
        (None, None) => None,
        (a, w) => {
            Some((0..c - 1).map(|k| a.as_ref().map_or(1.0, |a| a[k]) * w.as_ref().map_or(1.0, |w| w[k])).collect())
        }
    };
    let loss = Loss::Focal(Focal { alpha: None, gamma, reduction: Reduction::Sum, form: FocalForm::Probability });
    let classes = ClassOptions { weights: per_class, ..ClassOptions::default() };
    let input = InputSpec { activation: Activation::Softmax, target: TargetKind::ClassMap, ignore: None };
    // mean: ÷ N·(C−1)·H·W; sum: Σ over (image, class) of the spatial mean = total ÷ H·W.
    let scale = if sum {
        Scale { pixels: -1, ..Scale::default() }
    } else {
        Scale { images: -1, classes: -1, pixels: -1, dropped_classes: 1 }
    };
    let mut p = part(input, "focal", loss.batch().with_classes(classes).weighted(factor), scale);
    p.drop_background = true;
    Ok(vec![p])
}

fn named(mut p: Part, name: &str, lambda: f64) -> Part {
    for t in &mut p.terms {
        t.name = name.to_string();
        t.term.weight *= lambda;
    }
    p
}

pub(crate) fn parts(class: Class, kw: &Kw, c: usize) -> Result<Vec<Part>> {
    match class {
        Class::Dice => Ok(vec![named(dice_part(kw, c, Some("weight"))?, "monai.DiceLoss", 1.0)]),
        Class::Tversky => {
            let (input, selection) = region_input(kw, c)?;
            let loss = Loss::Tversky(Tversky {
                alpha: kw.f64("alpha", 0.5)?,
                beta: kw.f64("beta", 0.5)?,
                smooth: kw.f64("smooth_nr", 1e-5)?,
                eps: f64::MIN_POSITIVE,
                gamma: 1.0,
                smooth_dr: Some(positive(kw.f64("smooth_dr", 1e-5)?)),
                tp_form: if kw.bool("soft_label", false)? { TpForm::SoftL1 } else { TpForm::Product },
                log_loss: false,
                gamma_after_class_mean: false,
                squared: false,
            });
            let batch = kw.bool("batch", false)?;
            let scale = region_scale(kw, &selection, batch, true)?;
            let classes = ClassOptions { normalize_weights: false, selection, ..ClassOptions::default() };
            let value = 1.0 - kw.f64("smooth_nr", 1e-5)? / kw.f64("smooth_dr", 1e-5)?;
            let term = undefined(aggregate(loss, batch).with_classes(classes), value);
            Ok(vec![part(input, "monai.TverskyLoss", term, scale)])
        }
        Class::GeneralizedDice => Ok(vec![named(gdl_part(kw, c)?, "monai.GeneralizedDiceLoss", 1.0)]),
        Class::GeneralizedDiceFocal => {
            let (lambda_gdl, lambda_focal) = (kw.f64("lambda_gdl", 1.0)?, kw.f64("lambda_focal", 1.0)?);
            if lambda_gdl < 0.0 || lambda_focal < 0.0 {
                let key = if lambda_gdl < 0.0 { "lambda_gdl" } else { "lambda_focal" };
                return Err(kw.err(key, "must be >= 0 (MONAI raises)"));
            }
            let gdl = named(gdl_part(kw, c)?, "monai.GeneralizedDiceFocalLoss.gdl", lambda_gdl);
            let focal = focal_parts(kw, c, false)?
                .into_iter()
                .map(|p| named(p, "monai.GeneralizedDiceFocalLoss.focal", lambda_focal));
            Ok(std::iter::once(gdl).chain(focal).collect())
        }
        Class::HausdorffDt | Class::LogHausdorffDt | Class::Boundary => distance(class, kw, c),
        Class::SoftClDice | Class::SoftDiceClDice => cldice(class, kw, c),
        Class::WassersteinDice => wasserstein_dice(kw, c),
        Class::Mcc => {
            let (input, selection) = region_input(kw, c)?;
            let loss = Loss::Mcc(Mcc {
                eps: 0.0,
                smooth_nr: kw.f64("smooth_nr", 0.0)?,
                smooth_dr: kw.f64("smooth_dr", 1e-5)?,
                perfect_is_zero: true,
            });
            let batch = kw.bool("batch", false)?;
            let scale = region_scale(kw, &selection, batch, true)?;
            let classes = ClassOptions { normalize_weights: false, selection, ..ClassOptions::default() };
            Ok(vec![part(input, "monai.MCCLoss", aggregate(loss, batch).with_classes(classes), scale)])
        }
        Class::Focal => {
            let softmax = kw.bool("use_softmax", false)?;
            Ok(focal_parts(kw, c, softmax)?.into_iter().map(|p| named(p, "monai.FocalLoss", 1.0)).collect())
        }
        Class::DiceFocal => {
            let dice =
                named(dice_part(kw, c, Some("weight"))?, "monai.DiceFocalLoss.dice", kw.f64("lambda_dice", 1.0)?);
            let lambda = kw.f64("lambda_focal", 1.0)?;
            let focal = focal_parts(kw, c, false)?.into_iter().map(|p| named(p, "monai.DiceFocalLoss.focal", lambda));
            Ok(std::iter::once(dice).chain(focal).collect())
        }
        Class::DiceCe => dice_ce(kw, c),
    }
}

/// `HausdorffDTLoss` (include_background False by default), `LogHausdorffDTLoss` and
/// `BoundaryLoss`: the mean over N·C′ (or C′ with `batch`: the same value) of each plane's
/// mean; `reduction="sum"` × N·C′ (C′ with batch), refused with the log (ln of a sum).
fn distance(class: Class, kw: &Kw, c: usize) -> Result<Vec<Part>> {
    let (input, selection) = input_with_background(kw, c, class == Class::Boundary)?;
    let (loss, name) = match class {
        Class::Boundary => (Loss::Boundary(Boundary), "monai.BoundaryLoss"),
        _ => {
            let log = class == Class::LogHausdorffDt;
            if log && reduction(kw)? == "sum" {
                return Err(kw.err("reduction", "'sum' with the log is ln(1 + Σ) over N·C terms: not supported"));
            }
            let alpha = kw.f64("alpha", 2.0)?;
            let name = if log { "monai.LogHausdorffDTLoss" } else { "monai.HausdorffDTLoss" };
            (Loss::HausdorffDt(HausdorffDt { alpha, log }), name)
        }
    };
    let batch = kw.bool("batch", false)?;
    let scale = region_scale(kw, &selection, batch, true)?;
    let classes = ClassOptions { selection, ..ClassOptions::default() };
    Ok(vec![part(input, name, aggregate(loss, batch).with_classes(classes), scale)])
}

/// `SoftclDiceLoss` and `SoftDiceclDiceLoss` (MONAI 1.6.1): clDice of each image over its
/// selected channels pooled, the mean (`reduction="sum"`: the sum) over the images; the latter
/// adds (1 − alpha)·`DiceLoss` with the same activation, classes and smoothing (whose
/// defaults are 1 here, not DiceLoss's 1e-5), so it is composed of the two parts.
fn cldice(class: Class, kw: &Kw, c: usize) -> Result<Vec<Part>> {
    let Some(iterations) = ClDice::iterations_from(kw.f64("iter_", 3.0)?) else {
        return Err(kw.err("iter_", "must be a whole number in 0..=1024"));
    };
    let (input, selection) = input_with_background(kw, c, true)?;
    let loss = Loss::ClDice(ClDice {
        iterations,
        smooth_nr: kw.f64("smooth_nr", 1.0)?,
        smooth_dr: kw.f64("smooth_dr", 1.0)?,
        smooth: kw.f64("smooth", 1e-4)?,
    });
    let scale = match reduction(kw)? {
        "sum" => Scale { images: 1, ..Scale::default() },
        _ => Scale::default(),
    };
    let classes = ClassOptions { selection, pool: true, ..ClassOptions::default() };
    let term = loss.per_image().with_classes(classes);
    if class == Class::SoftClDice {
        return Ok(vec![part(input, "monai.SoftclDiceLoss", term, scale)]);
    }
    let alpha = kw.f64("alpha", 0.5)?;
    if !(0.0..=1.0).contains(&alpha) {
        return Err(kw.err("alpha", "must be in [0, 1] (MONAI raises)"));
    }
    let mut map = kw.map.clone();
    for key in ["smooth_nr", "smooth_dr"] {
        map.entry(key).or_insert(serde_json::Value::from(1.0));
    }
    let dice = dice_part(&Kw { preset: kw.preset, map: &map }, c, None)?;
    let cl = part(input, "monai.SoftDiceclDiceLoss.cldice", term, scale);
    Ok(vec![
        named(dice, "monai.SoftDiceclDiceLoss.dice", 1.0 - alpha),
        named(cl, "monai.SoftDiceclDiceLoss.cldice", alpha),
    ])
}

/// `GeneralizedWassersteinDiceLoss`: softmax logits and a class map, per image;
/// `dist_matrix` C×C (scaled by its maximum by the loss, as MONAI does).
fn wasserstein_dice(kw: &Kw, c: usize) -> Result<Vec<Part>> {
    let Some(matrix) = kw.opt_list("dist_matrix")? else {
        return Err(kw.err("dist_matrix", "is required: the C x C matrix of distances between the classes"));
    };
    let weighting = match kw.choice("weighting_mode", "default", &["default", "GDL"])? {
        "GDL" => WassersteinWeighting::Gdl,
        _ => WassersteinWeighting::Default,
    };
    let loss = Loss::WassersteinDice(WassersteinDice {
        weighting,
        smooth_nr: kw.f64("smooth_nr", 1e-5)?,
        smooth_dr: kw.f64("smooth_dr", 1e-5)?,
    });
    let scale = match reduction(kw)? {
        "sum" => Scale { images: 1, ..Scale::default() },
        _ => Scale::default(),
    };
    // Checked last: the keywords above do not depend on the batch's channels.
    if matrix.len() != c * c {
        return Err(kw.err("dist_matrix", format!("must be {c} x {c} for {c} classes")));
    }
    let input = InputSpec { activation: Activation::Softmax, target: TargetKind::ClassMap, ignore: None };
    let classes = ClassOptions { class_distances: Some(matrix), ..ClassOptions::default() };
    Ok(vec![part(input, "monai.GeneralizedWassersteinDiceLoss", loss.per_image().with_classes(classes), scale)])
}

fn dice_ce(kw: &Kw, c: usize) -> Result<Vec<Part>> {
    let (lambda_dice, lambda_ce) = (kw.f64("lambda_dice", 1.0)?, kw.f64("lambda_ce", 1.0)?);
    if lambda_dice < 0.0 || lambda_ce < 0.0 {
        return Err(kw.err("lambda_ce", "lambda_dice and lambda_ce must be >= 0"));
    }
    let weight = kw.opt_list("weight")?;
    let include_bg = kw.bool("include_background", true)?;
    // The Dice part gets weight[1:] without the background, the CE part all of it.
    let (dice_weights, _) = match &weight {
        Some(w) if c > 1 && w.len() == c => {
            let sel = if include_bg { ClassSelection::All } else { ClassSelection::NoBackground };
            let mut full = if include_bg { vec![] } else { vec![0.0] };
            full.extend(if include_bg { &w[..] } else { &w[1..] });
            (Some(full), sel)
        }
        Some(_) if c > 1 => return Err(kw.err("weight", format!("needs one weight per class ({c})"))),
        _ => (None, ClassSelection::All),
    };
    let mut dice = named(dice_part(kw, c, None)?, "monai.DiceCELoss.dice", lambda_dice);
    for t in &mut dice.terms {
        t.term.classes.weights = dice_weights.clone();
    }
    let sum = reduction(kw)? == "sum";
    let ce = if c > 1 {
        let onehot_y = kw.bool("to_onehot_y", false)?;
        let input = InputSpec { activation: Activation::Softmax, target: TargetKind::ClassMap, ignore: None };
        let ls = kw.f64("label_smoothing", 0.0)?;
        // Class-index targets: PyTorch's weighted mean (÷ Σ w_y); one-hot float targets: ÷ N·H·W.
        let (reduction, scale) = if sum {
            (Reduction::Sum, Scale::default())
        } else if onehot_y {
            (Reduction::Mean, Scale::default())
        } else {
            (Reduction::Sum, Scale::per_pixel())
        };
        let classes = ClassOptions { weights: weight, ..ClassOptions::default() };
        let term = Loss::CrossEntropy(CrossEntropy { label_smoothing: ls, reduction }).batch().with_classes(classes);
        part(input, "monai.DiceCELoss.ce", term.weighted(lambda_ce), scale)
    } else {
        let pos_weight = match &weight {
            Some(w) if w.len() == 1 => w[0],
            Some(_) => return Err(kw.err("weight", "one channel: weight is BCE's pos_weight, a single value")),
            None => 1.0,
        };
        let input = InputSpec { activation: Activation::Sigmoid, target: TargetKind::Float, ignore: None };
        let loss = Loss::Bce(Bce { pos_weight, label_smoothing: 0.0, reduction: Reduction::Sum });
        let term = loss.batch().with_classes(ClassOptions { pool: true, ..ClassOptions::default() });
        let scale = if sum { Scale::default() } else { Scale::per_element() };
        part(input, "monai.DiceCELoss.ce", term.weighted(lambda_ce), scale)
    };
    Ok(vec![dice, ce])
}
