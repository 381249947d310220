//! segloss's own losses by name (`dice`, `focal`, …) with their parameters as keywords, for the
//! command line and spec files. Defaults are segloss's (the seed's and the papers').

use super::{part, Activation, InputSpec, Kw, Part, Scale, TargetKind};
use crate::aggregate::{AbsentClass, ClassOptions, ClassSelection};
use crate::error::Result;
use crate::loss::{
    Bce, BceDice, Combo, CrossEntropy, Dice, DiceCe, Focal, GeneralizedDice, Iou, Loss, LovaszHinge, LovaszSoftmax,
    Reduction, TpForm, Tversky,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Name(usize);

pub(crate) const NAMES: &[&str] = &[
    "dice",
    "iou",
    "tversky",
    "bce",
    "bce_dice",
    "focal",
    "combo",
    "cross_entropy",
    "dice_ce",
    "generalized_dice",
    "lovasz_hinge",
    "lovasz_softmax",
];

pub(crate) fn name(n: &str) -> Option<Name> {
    NAMES.iter().position(|&x| x == n).map(Name)
}

const COMMON: &[&str] =
    &["mode", "aggregation", "ignore_index", "probabilities", "class_weights", "include_background", "absent"];

pub(crate) fn keywords(n: Name) -> Vec<&'static str> {
    let own: &[&str] = match NAMES[n.0] {
        "dice" => &["smooth", "smooth_nr", "smooth_dr", "eps", "squared", "log_loss", "soft_tp"],
        "iou" => &["smooth", "eps"],
        "tversky" => &["alpha", "beta", "smooth", "eps", "gamma"],
        "bce" => &["pos_weight", "label_smoothing", "reduction"],
        "bce_dice" => &["pos_weight", "label_smoothing", "smooth", "weight_bce", "weight_dice"],
        "focal" => &["alpha", "gamma", "reduction"],
        "combo" => &["ce_ratio", "beta", "smooth", "eps"],
        "cross_entropy" => &["label_smoothing", "reduction"],
        "dice_ce" => &["smooth", "label_smoothing", "weight_dice", "weight_ce"],
        "generalized_dice" => &["smooth_nr", "smooth_dr"],
        "lovasz_softmax" => &["present_only"],
        _ => &[],
    };
    [COMMON, own].concat()
}

pub(crate) fn is_single_channel(kw: &Kw) -> bool {
    kw.opt_str("mode").ok().flatten() == Some("binary")
}

fn reduction(kw: &Kw) -> Result<Reduction> {
    Ok(if kw.choice("reduction", "mean", &["mean", "sum"])? == "sum" { Reduction::Sum } else { Reduction::Mean })
}

pub(crate) fn parts(n: Name, kw: &Kw, channels: usize) -> Result<Vec<Part>> {
    let name = NAMES[n.0];
    let smooth = kw.f64("smooth", 1.0)?;
    let loss = match name {
        "dice" => Loss::Dice(Dice {
            smooth_nr: kw.f64("smooth_nr", smooth)?,
            smooth_dr: kw.f64("smooth_dr", smooth)?,
            eps: kw.f64("eps", 1e-7)?,
            squared: kw.bool("squared", false)?,
            log_loss: kw.bool("log_loss", false)?,
            tp_form: if kw.bool("soft_tp", false)? { TpForm::SoftL1 } else { TpForm::Product },
        }),
        "iou" => Loss::Iou(Iou { smooth, eps: kw.f64("eps", 1e-7)? }),
        "tversky" => Loss::Tversky(Tversky {
            alpha: kw.f64("alpha", 0.5)?,
            beta: kw.f64("beta", 0.5)?,
            smooth,
            eps: kw.f64("eps", 1e-7)?,
            gamma: kw.f64("gamma", 1.0)?,
            ..Tversky::default()
        }),
        "bce" => Loss::Bce(Bce {
            pos_weight: kw.f64("pos_weight", 1.0)?,
            label_smoothing: kw.f64("label_smoothing", 0.0)?,
            reduction: reduction(kw)?,
        }),
        "bce_dice" => Loss::BceDice(BceDice {
            bce: Bce {
                pos_weight: kw.f64("pos_weight", 1.0)?,
                label_smoothing: kw.f64("label_smoothing", 0.0)?,
                reduction: Reduction::Mean,
            },
            dice: Dice::default().smooth(smooth),
            weight_bce: kw.f64("weight_bce", 1.0)?,
            weight_dice: kw.f64("weight_dice", 1.0)?,
        }),
        "focal" => Loss::Focal(Focal {
            // One meaning: absent → 0.8; None (null) → no α (1 for both classes); a number in [0, 1].
            alpha: match kw.map.get("alpha") {
                None => Some(0.8),
                Some(serde_json::Value::Null) => None,
                Some(_) => match kw.opt_f64("alpha")? {
                    Some(a) if (0.0..=1.0).contains(&a) => Some(a),
                    _ => return Err(kw.err("alpha", "accepted: a number in [0, 1], or None for no alpha")),
                },
            },
            gamma: kw.f64("gamma", 2.0)?,
            reduction: reduction(kw)?,
            ..Focal::default()
        }),
        "combo" => Loss::Combo(Combo {
            ce_ratio: kw.f64("ce_ratio", 0.5)?,
            beta: kw.f64("beta", 0.5)?,
            smooth,
            eps: kw.f64("eps", 1e-7)?,
        }),
        "cross_entropy" => Loss::CrossEntropy(CrossEntropy {
            label_smoothing: kw.f64("label_smoothing", 0.0)?,
            reduction: reduction(kw)?,
        }),
        "dice_ce" => Loss::DiceCe(DiceCe {
            dice: Dice::default().smooth(smooth),
            ce: CrossEntropy { label_smoothing: kw.f64("label_smoothing", 0.0)?, reduction: Reduction::Mean },
            weight_dice: kw.f64("weight_dice", 1.0)?,
            weight_ce: kw.f64("weight_ce", 1.0)?,
        }),
        "generalized_dice" => Loss::GeneralizedDice(GeneralizedDice {
            smooth_nr: kw.f64("smooth_nr", 1e-5)?,
            smooth_dr: kw.f64("smooth_dr", 1e-5)?,
            ..GeneralizedDice::default()
        }),
        "lovasz_hinge" => Loss::LovaszHinge(LovaszHinge),
        _ => Loss::LovaszSoftmax(LovaszSoftmax { present_only: kw.bool("present_only", true)? }),
    };
    let softmax_only = matches!(name, "cross_entropy" | "dice_ce" | "lovasz_softmax");
    let default_mode = if softmax_only {
        "multiclass"
    } else if channels == 1 {
        "binary"
    } else {
        "multilabel"
    };
    let mode = kw.choice("mode", default_mode, &["binary", "multilabel", "multiclass"])?;
    let ignore = kw.opt_f64("ignore_index")?;
    let input = if mode == "multiclass" {
        InputSpec { activation: Activation::Softmax, target: TargetKind::ClassMap, ignore }
    } else {
        let activation = if kw.bool("probabilities", false)? { Activation::Probabilities } else { Activation::Sigmoid };
        InputSpec { activation, target: TargetKind::Float, ignore }
    };
    let term = match kw.choice("aggregation", "batch", &["batch", "per_image"])? {
        "batch" => loss.batch(),
        _ => loss.per_image(),
    };
    let absent = match kw.choice("absent", "smoothed", &["smoothed", "zero", "skip"])? {
        "zero" => AbsentClass::Zero,
        "skip" => AbsentClass::Skip,
        _ => AbsentClass::Smoothed,
    };
    let selection =
        if kw.bool("include_background", true)? { ClassSelection::All } else { ClassSelection::NoBackground };
    let classes = ClassOptions { weights: kw.opt_list("class_weights")?, selection, absent, ..ClassOptions::default() };
    Ok(vec![part(input, name, term.with_classes(classes), Scale::default())])
}
