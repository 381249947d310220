//! The losses of soft predictions (scores rather than labels), on the GPU engine.

use super::score::Soft;
use super::Options;
use segloss::{BinaryBatch, ClassMap, CrossEntropy, Dice, Engine, Loss, MulticlassBatch, Term};

pub(super) fn loss_terms(multiclass: bool) -> Vec<Term> {
    if multiclass {
        vec![Loss::CrossEntropy(CrossEntropy::default()).batch(), Loss::Dice(Dice::default()).batch()]
    } else {
        vec![Loss::Bce(segloss::Bce::default()).batch(), Loss::Dice(Dice::default()).batch()]
    }
}

pub(super) fn losses(engine: &Engine, o: &Options, s: &Soft) -> Result<Vec<f64>, String> {
    let (values, labels, c, h, w) = s;
    if *c == 1 {
        let t: Vec<f32> = labels.iter().map(|&l| if l == 255 { -1.0 } else { l as f32 }).collect();
        let mut batch = BinaryBatch::new(values, &t, &[1, *h, *w])
            .map_err(|e| e.to_string())?
            .ignore_value(-1.0)
            .map_err(|e| e.to_string())?;
        if !o.logits {
            batch = batch.probabilities();
        }
        engine.forward(&batch, &loss_terms(false)).map(|f| f.values).map_err(|e| e.to_string())
    } else {
        let batch = MulticlassBatch::new(values, ClassMap::U8(labels), &[1, *c, *h, *w])
            .map_err(|e| e.to_string())?
            .ignore_index(255);
        engine.forward(&batch, &loss_terms(true)).map(|f| f.values).map_err(|e| e.to_string())
    }
    .and_then(|v| match v.iter().find(|x| !x.is_finite()) {
        Some(x) => Err(format!("a loss is not finite ({x}): the scores are too extreme")),
        None => Ok(v),
    })
}
