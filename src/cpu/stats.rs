//! The reference of the fused forward pass (`stats_partials.wgsl` + `stats_final.wgsl`):
//! per image, every sum in float64, and the same data checks.

use super::pixel::pixel_sums;
use crate::batch::{BinaryBatch, InputKind};
use crate::error::Result;
use crate::pixel::PixelParams;
use crate::stats::Stats;

/// Whether an input value is acceptable (finite; in [0, 1] for probabilities).
pub fn input_ok(x: f32, kind: InputKind) -> bool {
    match kind {
        InputKind::Logits => x.is_finite(),
        InputKind::Probabilities => (0.0..=1.0).contains(&x),
    }
}

/// Whether a (non-ignored) target value is acceptable.
pub fn target_ok(t: f32) -> bool {
    (0.0..=1.0).contains(&t)
}

/// The data checks of the fused pass for one element: records the first bad input and
/// target indices; returns whether the element is a valid pixel to accumulate.
fn check_element(batch: &BinaryBatch, i: usize, bad: &mut [Option<usize>; 2]) -> bool {
    let (x, t) = (batch.input[i], batch.target[i]);
    if bad[0].is_none() && !input_ok(x, batch.input_kind) {
        bad[0] = Some(i);
    }
    if batch.is_ignored(t) {
        return false;
    }
    if bad[1].is_none() && !target_ok(t) {
        bad[1] = Some(i);
    }
    // After a bad element, keep scanning only to find the first bad index of the other tensor.
    bad[0].is_none() && bad[1].is_none()
}

/// The first bad element of `batch` as an error (the same checks as the fused pass), for
/// paths that run no forward pass.
pub fn check_data(batch: &BinaryBatch) -> Option<crate::Error> {
    let mut bad = [None, None];
    for i in 0..batch.input.len() {
        check_element(batch, i, &mut bad);
    }
    batch.data_error(bad[0], bad[1])
}

/// Per-image statistics of `batch`, or the error of its first bad element.
pub fn stats_pass(batch: &BinaryBatch, pp: &PixelParams) -> Result<Vec<Stats>> {
    let hw = batch.shape.pixels();
    let mut images = vec![Stats::default(); batch.segments()];
    let mut bad = [None, None];
    for i in 0..batch.input.len() {
        if check_element(batch, i, &mut bad) {
            let (x, t) = (batch.input[i], batch.target[i]);
            pixel_sums(&mut images[i / hw], x as f64, t as f64, batch.input_kind, pp);
        }
    }
    match batch.data_error(bad[0], bad[1]) {
        Some(e) => Err(e),
        None => Ok(images),
    }
}
