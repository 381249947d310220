//! The arrays and terms the web page runs, shared with `examples/web_native.rs` so that the
//! browser's numbers and the native build's are of the same inputs. The values come from
//! integer arithmetic (exact in f32 on every target), not from a math library.

use segloss::{Bce, Dice, Focal, Loss, Term};

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
