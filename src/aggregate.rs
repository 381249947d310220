//! From per-(image, class) statistics to loss values and backward coefficients: which terms
//! fit a batch, segments per image or pooled over the batch, and the mean over segments. What
//! a segment's loss is, each loss says itself (`loss::SumLoss`); the class-wise mean is in
//! `loss/segment.rs`.
//!
//! Rows of statistics are laid out image-major: row `i·C + c` is image i, class c (C = 1 in
//! binary mode). A *segment* is one image (`Aggregation::PerImage`) or the whole batch with
//! each class's rows summed (`Aggregation::Batch`).

use crate::error::{Error, Result};
use crate::input::{Layout, Mode};
use crate::loss::{segment, Family, SegmentLoss};
use crate::options::Aggregation;
use crate::stats::{Coefficients, Stats};
use crate::term::Term;

/// Checks that every term fits the batch's mode and class count.
pub fn check(terms: &[Term], layout: &Layout) -> Result<()> {
    for (i, term) in terms.iter().enumerate() {
        term.classes.check(layout.classes, i)?;
        let def = term.loss.def();
        if !def.applies(layout.mode) {
            let hint = match layout.mode {
                Mode::Multiclass => "use CrossEntropy / DiceCe / LovaszSoftmax for softmax outputs",
                _ => "CrossEntropy, DiceCe and LovaszSoftmax need a multiclass batch; use Bce / BceDice / LovaszHinge",
            };
            return Err(Error::InvalidRequest(format!(
                "term {i} ({}) does not apply in {:?} mode: {hint}",
                term.loss.name(),
                layout.mode
            )));
        }
        if term.classes.class_distances.is_some() && !def.takes_class_distances() {
            return Err(Error::InvalidRequest(format!(
                "term {i}: class distances (ClassOptions::class_distances) are read by the Wasserstein Dice loss only, not by {}",
                term.loss.name()
            )));
        }
        def.check_classes(&term.classes).map_err(|why| Error::InvalidRequest(format!("term {i}: {why}")))?;
    }
    Ok(())
}

/// The values of the sum-based `terms` over `layout.rows()` rows of statistics (gathered
/// from every shard of a batch, say), and per row the coefficients of the weighted total
/// Σ_k weight_k·L_k (what the backward pass needs). The terms are validated against the
/// layout first; a standalone term (Lovasz) is an error: it is not a function of sums.
pub fn evaluate(terms: &[Term], rows: &[Stats], layout: &Layout) -> Result<(Vec<f64>, Vec<Coefficients>)> {
    crate::pixel::PixelParams::from_terms(terms)?;
    check(terms, layout)?;
    if let Some(t) = terms.iter().find(|t| t.loss.is_standalone()) {
        return Err(Error::InvalidRequest(format!("{} is not a function of mergeable sums", t.loss.name())));
    }
    if rows.len() != layout.rows() {
        return Err(Error::StatsMismatch(format!(
            "{} rows of statistics for a layout of {} images x {} classes",
            rows.len(),
            layout.images,
            layout.classes
        )));
    }
    Ok(evaluate_checked(terms, rows, layout))
}

/// [`evaluate`] for terms that `check` has passed.
pub(crate) fn evaluate_checked(terms: &[Term], rows: &[Stats], layout: &Layout) -> (Vec<f64>, Vec<Coefficients>) {
    let c = layout.classes;
    let mut coefficients = vec![Coefficients::default(); rows.len()];
    let values = terms
        .iter()
        .map(|term| {
            let segments: Vec<Vec<Stats>> = match term.aggregation {
                Aggregation::PerImage => rows.chunks(c).map(<[Stats]>::to_vec).collect(),
                Aggregation::Batch => vec![(0..c).map(|k| Stats::total(rows.iter().skip(k).step_by(c))).collect()],
            };
            let results: Vec<_> = segments.iter().map(|seg| segment_value(term, seg, layout.mode)).collect();
            let counted = match (term.aggregation, term.undefined_images) {
                (Aggregation::PerImage, Some(v)) => Some(v),
                _ => None,
            };
            let undefined = results.iter().filter(|r| r.is_none()).count();
            let included = results.iter().flatten().count() + if counted.is_some() { undefined } else { 0 };
            if included == 0 {
                return 0.0;
            }
            let scale = term.weight / included as f64;
            let mut sum = if undefined > 0 { counted.map_or(0.0, |v| v * undefined as f64) } else { 0.0 };
            for (s, result) in results.iter().enumerate() {
                let Some((v, d)) = result else { continue };
                sum += v;
                // Per image: segment s is image s. Batch: the one segment feeds every image.
                let images = match term.aggregation {
                    Aggregation::PerImage => s..s + 1,
                    Aggregation::Batch => 0..layout.images,
                };
                for i in images {
                    for (k, dk) in d.iter().enumerate() {
                        if !rows[i * c + k].is_empty() {
                            coefficients[i * c + k] = coefficients[i * c + k].plus(&dk.scaled(scale));
                        }
                    }
                }
            }
            sum / included as f64
        })
        .collect();
    (values, coefficients)
}

/// One segment's loss and per-class coefficients; `None` when the segment has no valid
/// pixel, every class it would average is skipped, or the loss is standalone.
fn segment_value(term: &Term, rows: &[Stats], mode: Mode) -> Option<SegmentLoss> {
    if rows.iter().all(Stats::is_empty) {
        return None;
    }
    let Family::Sums(loss) = term.loss.def().family() else { return None };
    match loss.segment(rows, &term.classes, mode) {
        Some(own) => own,
        None => segment::class_mean(loss, rows, &term.classes),
    }
}
