//! torchvision 0.29.2 `ops.sigmoid_focal_loss(inputs, targets, alpha=0.25, gamma=2, reduction="none")`:
//! `α_t·(1 − p_t)^γ·BCE` per element (Lin et al.), `alpha < 0` disables α. Its default
//! reduction "none" returns a tensor; as a loss, give "mean" or "sum".

use super::{part, Activation, InputSpec, Kw, Part, Scale, TargetKind};
use crate::error::Result;
use crate::loss::{Focal, Loss, Reduction};
use crate::options::ClassOptions;
use crate::pixel::FocalForm;

pub(crate) const KEYWORDS: &[&str] = &["alpha", "gamma", "reduction"];

pub(crate) fn parts(kw: &Kw, _channels: usize) -> Result<Vec<Part>> {
    let alpha = kw.f64("alpha", 0.25)?;
    let reduction = match kw.str_or("reduction", "none")? {
        "mean" => Reduction::Mean,
        "sum" => Reduction::Sum,
        _ => return Err(kw.err("reduction", "a loss must be a scalar: give \"mean\" or \"sum\"")),
    };
    let loss = Focal {
        alpha: (alpha >= 0.0).then_some(alpha),
        gamma: kw.f64("gamma", 2.0)?,
        reduction,
        form: FocalForm::Probability,
    };
    let input = InputSpec { activation: Activation::Sigmoid, target: TargetKind::Float, ignore: None };
    let term = Loss::Focal(loss).batch().with_classes(ClassOptions { pool: true, ..ClassOptions::default() });
    Ok(vec![part(input, "torchvision.sigmoid_focal_loss", term, Scale::default())])
}
