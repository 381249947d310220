//! The reference of the exact Euclidean distance transform (`edt_init.wgsl`,
//! `edt_axis.wgsl`), in f64, stage by stage as on the GPU: every foreground (nonzero) voxel
//! gets the squared distance Σ (Δᵢ·sᵢ)² to the nearest background (zero) voxel of its own
//! image, background voxels get 0, and every voxel of an image without background gets +∞.
//!
//! Felzenszwalb & Huttenlocher's separable transform: `edt_init` sets f = 0 on background
//! and +∞ on foreground; then one `edt_axis` pass per spatial axis replaces each line by
//! the lower envelope of the parabolas `f[p] + (s·(x − p))²` of its finite sites, sampled
//! at every voxel. O(voxels) per pass.

use crate::error::Result;
pub use crate::grid::{Axis, Grid};

/// Stage 1 (`edt_init.wgsl`): 0 on background (zero) voxels, +∞ on foreground ones.
pub fn edt_init(mask: &[u8]) -> Vec<f64> {
    mask.iter().map(|&m| if m != 0 { f64::INFINITY } else { 0.0 }).collect()
}

/// The parabola of site `p` (value `fp`) at `q`: fp + (s·(q − p))².
fn parabola(p: usize, fp: f64, q: usize, s: f64) -> f64 {
    let t = s * (q as f64 - p as f64);
    fp + t * t
}

/// Where the parabolas of sites p < q meet: (p + q)/2 + (fq − fp) / (2·s²·(q − p)), written
/// as p + (q − p)/2 + … so that it is well conditioned (as in `edt_axis.wgsl`).
fn meet(p: usize, fp: f64, q: usize, fq: f64, s2: f64) -> f64 {
    let gap = (q - p) as f64;
    p as f64 + 0.5 * gap + (fq - fp) / (2.0 * s2 * gap)
}

/// Stage 2 (`edt_axis.wgsl`), one pass along `axis`: each line's values become the lower
/// envelope of its sites' parabolas. The envelope is built left to right (a site's parabola
/// is dropped once the next one meets the envelope at or before where it began), then read
/// left to right, moving on to the next parabola while it is no higher. A line without a
/// finite site stays +∞.
pub fn edt_axis(f: &mut [f64], axis: &Axis) {
    let s2 = axis.spacing * axis.spacing;
    // The envelope: (site, value) per parabola, as the GPU keeps it in its scratch buffer.
    let mut env: Vec<(usize, f64)> = Vec::with_capacity(axis.len);
    for line in 0..axis.lines {
        let start = axis.line_start(line);
        let at = |q: usize| start + q * axis.stride;
        env.clear();
        for q in 0..axis.len {
            let fq = f[at(q)];
            if fq.is_infinite() {
                continue;
            }
            while let Some(&(p, fp)) = env.last() {
                if env.len() < 2 {
                    break;
                }
                let (b, fb) = env[env.len() - 2];
                if meet(p, fp, q, fq, s2) > meet(b, fb, p, fp, s2) {
                    break;
                }
                env.pop();
            }
            env.push((q, fq));
        }
        if env.is_empty() {
            continue; // no finite site: the line stays +∞
        }
        let mut j = 0;
        for q in 0..axis.len {
            let mut value = parabola(env[j].0, env[j].1, q, axis.spacing);
            while j + 1 < env.len() {
                let next = parabola(env[j + 1].0, env[j + 1].1, q, axis.spacing);
                if next > value {
                    break;
                }
                j += 1;
                value = next;
            }
            f[at(q)] = value;
        }
    }
}

/// The squared Euclidean distance transform of a batch: `mask` is `[N, H, W]` or
/// `[N, D, H, W]` (nonzero = foreground), `spacing` one per spatial axis (H, W or D, H, W).
/// Foreground voxels get the squared distance to the nearest background voxel of their image,
/// background voxels 0, and images without background +∞ everywhere. `Err` as
/// `Engine::squared_distance_transform`.
pub fn squared_distance_transform(mask: &[u8], shape: &[usize], spacing: &[f64]) -> Result<Vec<f64>> {
    let grid = Grid::new(mask.len(), shape, spacing)?;
    let mut f = edt_init(mask);
    for axis in grid.axes() {
        edt_axis(&mut f, &axis);
    }
    Ok(f)
}
