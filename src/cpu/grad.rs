//! The reference of the backward pass (`grad.wgsl`): every pixel's gradient from its
//! image's coefficients; ignored pixels get exactly zero.

use super::pixel::pixel_grad;
use crate::batch::BinaryBatch;
use crate::pixel::PixelParams;
use crate::stats::Coefficients;

/// dL/dinput for every element of `batch`, given one coefficient set per image.
pub fn grad_pass(batch: &BinaryBatch, pp: &PixelParams, per_image: &[Coefficients]) -> Vec<f64> {
    let hw = batch.shape.pixels();
    batch
        .input
        .iter()
        .zip(batch.target)
        .enumerate()
        .map(|(i, (&x, &t))| {
            if batch.is_ignored(t) {
                0.0
            } else {
                pixel_grad(x as f64, t as f64, batch.input_kind, pp, &per_image[i / hw])
            }
        })
        .collect()
}
