//! The arrays and terms the web page runs (a binary and a multiclass batch), shared with `examples/web_native.rs` so that the
//! browser's numbers and the native build's are of the same inputs. The values come from
//! integer arithmetic (exact in f32 on every target), not from a math library.

use segloss::{Bce, Dice, DiceCe, Focal, Loss, Term};

/// N, C, H, W of the binary batch.
pub const DIMS: [usize; 4] = [2, 1, 37, 53];

/// Logits in [−4, 4) on a 1/512 grid and hard targets, both from a multiplicative hash.
pub fn inputs() -> (Vec<f32>, Vec<f32>) {
    let n: usize = DIMS.iter().product();
    let hash = |i: usize, m: u64| (i as u64 + 1).wrapping_mul(2_654_435_761) % m;
    let x = (0..n).map(|i| hash(i, 4096) as f32 / 512.0 - 4.0).collect();
    let t = (0..n).map(|i| (hash(i * 7 + 3, 10) < 4) as u8 as f32).collect();
    (x, t)
}

/// Dice per image, Focal over the batch (weight 0.5), BCE over the batch.
pub fn terms() -> Vec<Term> {
    vec![
        Loss::Dice(Dice::default()).per_image(),
        Loss::Focal(Focal::default()).batch().weighted(0.5),
        Loss::Bce(Bce::default()).batch(),
    ]
}

/// N, C, H, W of the multiclass batch (a u8 class map of N, H, W).
pub const CLASS_DIMS: [usize; 4] = [2, 4, 19, 23];

/// Logits that favour the labelled class, and the class map.
pub fn class_inputs() -> (Vec<f32>, Vec<u8>) {
    let [n, c, h, w] = CLASS_DIMS;
    let hash = |i: usize, m: u64| (i as u64 + 5).wrapping_mul(2_246_822_519) % m;
    let map: Vec<u8> = (0..n * h * w).map(|i| hash(i, c as u64) as u8).collect();
    let x = (0..n * c * h * w)
        .map(|j| {
            let (img, k, p) = (j / (c * h * w), (j / (h * w)) % c, j % (h * w));
            let own = map[img * h * w + p] as usize == k;
            hash(j * 3 + 1, 2048) as f32 / 512.0 - 2.0 + if own { 1.5 } else { 0.0 }
        })
        .collect();
    (x, map)
}

/// Dice over the batch and Dice + CE per image (weight 0.25).
pub fn class_terms() -> Vec<Term> {
    vec![Loss::Dice(Dice::default()).batch(), Loss::DiceCe(DiceCe::default()).per_image().weighted(0.25)]
}

/// The line both sides print: the total, each term's value and the gradient's L2 norm.
pub fn report(adapter: &str, total: f64, values: &[f64], grad: &[f32]) -> String {
    let norm = grad.iter().map(|&g| (g as f64) * (g as f64)).sum::<f64>().sqrt();
    let values: Vec<String> = values.iter().map(|v| format!("{v:e}")).collect();
    format!(
        "{{\"adapter\": \"{}\", \"total\": {total:e}, \"values\": [{}], \"grad_norm\": {norm:e}, \"grad_len\": {}}}",
        adapter.replace(['"', '\\'], "'"),
        values.join(", "),
        grad.len()
    )
}
