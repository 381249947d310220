//! kornia 0.9.0 (`kornia.losses`).
//!
//! `dice_loss`: softmax, `eps` added to the denominator; `average="micro"` pools the classes
//! (weighted) and the pixels of each image into one Dice, `"macro"` averages the Dice of the
//! classes present in each image (weights renormalised); mean over images. `tversky_loss`:
//! per image, mean of the Tversky score over the present classes. `focal_loss`: softmax focal,
//! α for classes ≥ 1 and 1 − α for class 0, times `weight`, mean over N·C·H·W (per pixel / C;
//! ignored pixels stay in the denominator). `binary_focal_loss_with_logits`: linear in the
//! target (`FocalForm::PerTerm`), mean over every element. Lovasz hinge: per image;
//! Lovasz softmax: per image, every class (an absent class contributes its largest probability).

use super::{part, Activation, InputSpec, Kw, Part, Scale, TargetKind};
use crate::error::Result;
use crate::loss::{Dice, Focal, Loss, LovaszHinge, LovaszSoftmax, Reduction, TpForm, Tversky};
use crate::options::{AbsentClass, ClassOptions};
use crate::pixel::FocalForm;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Function {
    Dice,
    Focal,
    BinaryFocal,
    Tversky,
    LovaszHinge,
    LovaszSoftmax,
}

pub(crate) const NAMES: &[&str] = &[
    "dice_loss",
    "focal_loss",
    "binary_focal_loss_with_logits",
    "tversky_loss",
    "lovasz_hinge_loss",
    "lovasz_softmax_loss",
];

pub(crate) fn function(name: &str) -> Option<Function> {
    Some(match name {
        "dice_loss" | "DiceLoss" => Function::Dice,
        "focal_loss" | "FocalLoss" => Function::Focal,
        "binary_focal_loss_with_logits" | "BinaryFocalLossWithLogits" => Function::BinaryFocal,
        "tversky_loss" | "TverskyLoss" => Function::Tversky,
        "lovasz_hinge_loss" | "LovaszHingeLoss" => Function::LovaszHinge,
        "lovasz_softmax_loss" | "LovaszSoftmaxLoss" => Function::LovaszSoftmax,
        _ => return None,
    })
}

pub(crate) fn keywords(f: Function) -> Vec<&'static str> {
    match f {
        Function::Dice => vec!["average", "eps", "weight", "ignore_index"],
        Function::Focal => vec!["alpha", "gamma", "reduction", "weight", "ignore_index"],
        Function::BinaryFocal => vec!["alpha", "gamma", "reduction", "pos_weight", "weight", "ignore_index"],
        Function::Tversky => vec!["alpha", "beta", "eps", "ignore_index"],
        Function::LovaszHinge => vec![],
        Function::LovaszSoftmax => vec!["weight"],
    }
}

fn ignore(kw: &Kw) -> Result<Option<f64>> {
    match kw.map.get("ignore_index") {
        None => Ok(Some(-100.0)),
        Some(_) => Ok(kw.opt_i64("ignore_index")?.map(|x| x as f64)),
    }
}

fn softmax(kw: &Kw) -> Result<InputSpec> {
    Ok(InputSpec { activation: Activation::Softmax, target: TargetKind::ClassMap, ignore: ignore(kw)? })
}

fn weights(kw: &Kw, channels: usize) -> Result<Option<Vec<f64>>> {
    let w = kw.opt_list("weight")?;
    if let Some(w) = &w {
        if w.len() != channels {
            return Err(kw.err("weight", format!("needs one value per class ({channels})")));
        }
    }
    Ok(w)
}

fn reduction(kw: &Kw) -> Result<Reduction> {
    match kw.str_or("reduction", "none")? {
        "mean" => Ok(Reduction::Mean),
        "sum" => Ok(Reduction::Sum),
        _ => Err(kw.err("reduction", "a loss must be a scalar: give \"mean\" or \"sum\"")),
    }
}

pub(crate) fn parts(f: Function, kw: &Kw, channels: usize) -> Result<Vec<Part>> {
    match f {
        Function::Dice => {
            let average = kw.choice("average", "micro", &["micro", "macro"])?;
            let eps = kw.f64("eps", 1e-8)?;
            let dice = Dice {
                smooth_nr: 0.0,
                smooth_dr: eps,
                eps: 0.0,
                squared: false,
                log_loss: false,
                tp_form: TpForm::Product,
            };
            let classes = ClassOptions {
                weights: weights(kw, channels)?,
                normalize_weights: true,
                pool: average == "micro",
                absent: if average == "macro" { AbsentClass::Skip } else { AbsentClass::Smoothed },
                ..ClassOptions::default()
            };
            // An image without a valid pixel, or whose present classes weigh 0, counts as 1.
            let term = Loss::Dice(dice).per_image().with_classes(classes).counting_undefined_images(1.0);
            Ok(vec![part(softmax(kw)?, "kornia.dice_loss", term, Scale::default())])
        }
        Function::Tversky => {
            let (Some(alpha), Some(beta)) = (kw.opt_f64("alpha")?, kw.opt_f64("beta")?) else {
                return Err(kw.err("alpha", "alpha and beta are required"));
            };
            let t = Tversky {
                alpha,
                beta,
                smooth: 0.0,
                eps: 0.0,
                gamma: 1.0,
                smooth_dr: Some(kw.f64("eps", 1e-8)?),
                tp_form: TpForm::Product,
                log_loss: false,
                gamma_after_class_mean: false,
                squared: false,
            };
            let classes = ClassOptions { absent: AbsentClass::Skip, ..ClassOptions::default() };
            let term = Loss::Tversky(t).per_image().with_classes(classes).counting_undefined_images(1.0);
            Ok(vec![part(softmax(kw)?, "kornia.tversky_loss", term, Scale::default())])
        }
        Function::Focal => {
            let red = reduction(kw)?;
            let alpha = kw.opt_f64("alpha")?;
            let w = weights(kw, channels)?;
            // α_k (1 − α for class 0, α otherwise) times weight[k], as one class weight.
            let per_class: Vec<f64> = (0..channels)
                .map(|k| {
                    let a = alpha.map_or(1.0, |a| if k == 0 { 1.0 - a } else { a });
                    a * w.as_ref().map_or(1.0, |w| w[k])
                })
                .collect();
            let loss = Focal {
                alpha: None,
                gamma: kw.f64("gamma", 2.0)?,
                reduction: Reduction::Sum,
                form: FocalForm::Probability,
            };
            let classes = ClassOptions { weights: Some(per_class), ..ClassOptions::default() };
            let term = Loss::Focal(loss).batch().with_classes(classes);
            let scale = if red == Reduction::Mean { Scale::per_element() } else { Scale::default() };
            Ok(vec![part(softmax(kw)?, "kornia.focal_loss", term, scale)])
        }
        Function::BinaryFocal => {
            let red = reduction(kw)?;
            let alpha = match kw.map.get("alpha") {
                None => Some(0.25),
                Some(_) => kw.opt_f64("alpha")?,
            };
            let gamma = kw.f64("gamma", 2.0)?;
            let w = weights(kw, channels)?;
            let input = InputSpec { activation: Activation::Sigmoid, target: TargetKind::Float, ignore: ignore(kw)? };
            let scale = if red == Reduction::Mean { Scale::per_element() } else { Scale::default() };
            let name = "kornia.binary_focal_loss_with_logits";
            let focal =
                |alpha| Loss::Focal(Focal { alpha, gamma, reduction: Reduction::Sum, form: FocalForm::PerTerm });
            let Some(pw) = kw.opt_list("pos_weight")? else {
                let classes = ClassOptions { weights: w, pool: true, ..ClassOptions::default() };
                return Ok(vec![part(input, name, focal(alpha).batch().with_classes(classes), scale)]);
            };
            if pw.len() != channels {
                return Err(kw.err("pos_weight", format!("needs one value per channel ({channels})")));
            }
            // pos_weight[c] scales the positive term: per channel, positive weight a = α·pw,
            // negative weight b = 1 − α, i.e. the focal α' = a/(a + b) times a + b (exact: the
            // kornia form is linear in the two terms).
            let (pos, neg) = alpha.map_or((1.0, 1.0), |a| (a, 1.0 - a));
            let mut parts = Vec::new();
            for (k, &pwk) in pw.iter().enumerate() {
                if pwk < 0.0 {
                    return Err(kw.err("pos_weight", "must be >= 0"));
                }
                let (a, b) = (pos * pwk, neg);
                if a + b == 0.0 {
                    continue;
                }
                let weight = (a + b) * w.as_ref().map_or(1.0, |w| w[k]);
                let mut p = part(input, name, focal(Some(a / (a + b))).batch().weighted(weight), scale);
                p.channel = Some(k);
                parts.push(p);
            }
            Ok(parts)
        }
        Function::LovaszHinge => {
            if channels != 1 {
                return Err(super::bad(format!(
                    "kornia.lovasz_hinge_loss: pred must be (B, 1, H, W), got C = {channels}"
                )));
            }
            let input = InputSpec { activation: Activation::Sigmoid, target: TargetKind::Float, ignore: None };
            Ok(vec![part(
                input,
                "kornia.lovasz_hinge_loss",
                Loss::LovaszHinge(LovaszHinge).per_image(),
                Scale::default(),
            )])
        }
        Function::LovaszSoftmax => {
            let classes =
                ClassOptions { weights: weights(kw, channels)?, normalize_weights: false, ..ClassOptions::default() };
            let term = Loss::LovaszSoftmax(LovaszSoftmax { present_only: false }).per_image().with_classes(classes);
            let input = InputSpec { activation: Activation::Softmax, target: TargetKind::ClassMap, ignore: None };
            Ok(vec![part(input, "kornia.lovasz_softmax_loss", term, Scale::default())])
        }
    }
}
