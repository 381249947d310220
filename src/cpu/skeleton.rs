//! The soft skeleton of clDice (Shit et al. 2021) as MONAI 1.6.1's `soft_skel` computes it
//! with PyTorch's pooling, in f64, and its backward (reverse mode through every step).
//!
//! One plane (2-D `[H, W]` or 3-D `[D, H, W]`, row-major):
//! - [`soft_erode`]: per axis, the minimum over the 3-window along that axis (the window clipped
//!   at the border, as max pooling pads with −∞), then the elementwise minimum of the axes'
//!   results nested left to right: `min(p₀, p₁)`, `min(min(p₀, p₁), p₂)`;
//! - [`soft_dilate`]: the maximum over the 3×3 (3×3×3) window, clipped at the border;
//! - open = dilate ∘ erode; [`Skeleton::of`]: skel = relu(x − open(x)), then `iterations` times
//!   x ← erode(x), δ = relu(x − open(x)), skel ← skel + relu(δ − skel·δ).
//!
//! The way back ([`Skeleton::backward`]) is PyTorch's: a pooling sends a window's gradient to
//! the first extremum of the window in scan order (row-major), an elementwise minimum splits
//! it in halves on a tie, relu passes it where its input is > 0. Since MONAI's loop erodes the
//! same image twice (once for the opening, once for the next step), the two uses share one
//! erosion here and their gradients are summed before it.

/// Row-major strides of `dims`.
fn strides(dims: &[usize]) -> Vec<usize> {
    let mut s = vec![1; dims.len()];
    for a in (0..dims.len().saturating_sub(1)).rev() {
        s[a] = s[a + 1] * dims[a + 1];
    }
    s
}

/// The extremum of each element's 3-window along `axis` (clipped at the border) and where it
/// is: the first element of the window, in increasing coordinate, that `better` cannot beat.
/// Rows of the axis are visited in memory order (the inner loop runs over contiguous
/// elements whatever the axis).
fn along_axis(x: &[f64], dims: &[usize], axis: usize, better: impl Fn(f64, f64) -> bool) -> (Vec<f64>, Vec<usize>) {
    let stride = strides(dims)[axis];
    let n = dims[axis];
    let mut value = vec![0.0; x.len()];
    let mut at = vec![0; x.len()];
    for base in (0..x.len()).step_by(stride * n) {
        for c in 0..n {
            let (lo, hi) = (c.saturating_sub(1), (c + 1).min(n - 1));
            for off in 0..stride {
                let first = base + lo * stride + off;
                let (mut best, mut where_) = (x[first], first);
                for k in lo + 1..=hi {
                    let e = base + k * stride + off;
                    if better(x[e], best) {
                        best = x[e];
                        where_ = e;
                    }
                }
                let j = base + c * stride + off;
                value[j] = best;
                at[j] = where_;
            }
        }
    }
    (value, at)
}

fn less(a: f64, b: f64) -> bool {
    a < b
}

fn greater(a: f64, b: f64) -> bool {
    a > b
}

/// Per axis: the 3-window minimum along it and its position.
fn erode_axes(x: &[f64], dims: &[usize]) -> Vec<(Vec<f64>, Vec<usize>)> {
    (0..dims.len()).map(|a| along_axis(x, dims, a, less)).collect()
}

/// The nested elementwise minimum of the per-axis minima.
fn nested_min(axes: &[(Vec<f64>, Vec<usize>)], len: usize) -> Vec<f64> {
    (0..len).map(|j| axes.iter().map(|(v, _)| v[j]).fold(f64::INFINITY, f64::min)).collect()
}

/// Soft erosion: the nested elementwise minimum of the per-axis 3-window minima.
pub fn soft_erode(x: &[f64], dims: &[usize]) -> Vec<f64> {
    nested_min(&erode_axes(x, dims), x.len())
}

/// The share of each axis in the nested minimum at one element: `min(a, b)` gives all to the
/// smaller side and halves on a tie (PyTorch's `minimum` backward).
fn erode_shares(values: &[f64], shares: &mut [f64]) {
    let mut current = values[0];
    shares[0] = 1.0;
    for a in 1..values.len() {
        let (left, right) = match current.partial_cmp(&values[a]) {
            Some(std::cmp::Ordering::Less) => (1.0, 0.0),
            Some(std::cmp::Ordering::Greater) => (0.0, 1.0),
            _ => (0.5, 0.5),
        };
        shares[..a].iter_mut().for_each(|s| *s *= left);
        shares[a] = right;
        current = current.min(values[a]);
    }
}

/// The gradient of [`soft_erode`] at `x` given the gradient of its output.
pub fn soft_erode_backward(x: &[f64], dims: &[usize], gy: &[f64]) -> Vec<f64> {
    erode_backward(&erode_axes(x, dims), gy)
}

/// [`soft_erode_backward`] from the per-axis minima and their positions.
fn erode_backward(axes: &[(Vec<f64>, Vec<usize>)], gy: &[f64]) -> Vec<f64> {
    let mut gx = vec![0.0; gy.len()];
    let (mut values, mut shares) = (vec![0.0; axes.len()], vec![0.0; axes.len()]);
    for j in 0..gy.len() {
        if gy[j] == 0.0 {
            continue;
        }
        for (a, (v, _)) in axes.iter().enumerate() {
            values[a] = v[j];
        }
        erode_shares(&values, &mut shares);
        for (a, (_, at)) in axes.iter().enumerate() {
            gx[at[j]] += gy[j] * shares[a];
        }
    }
    gx
}

/// The full-window maximum and, per element, where it is: the first maximum of the window in
/// row-major order (separable: the last axis first, so that each earlier axis keeps the
/// first row that reaches the maximum and that row's own first position).
fn dilate_with_argmax(x: &[f64], dims: &[usize]) -> (Vec<f64>, Vec<usize>) {
    let mut value = x.to_vec();
    let mut at: Vec<usize> = (0..x.len()).collect();
    for axis in (0..dims.len()).rev() {
        let (v, step) = along_axis(&value, dims, axis, greater);
        at = step.iter().map(|&k| at[k]).collect();
        value = v;
    }
    (value, at)
}

/// Soft dilation: the maximum over the 3×3 (3×3×3) window.
pub fn soft_dilate(x: &[f64], dims: &[usize]) -> Vec<f64> {
    dilate_with_argmax(x, dims).0
}

/// The gradient of [`soft_dilate`] at `x` given the gradient of its output.
pub fn soft_dilate_backward(x: &[f64], dims: &[usize], gy: &[f64]) -> Vec<f64> {
    dilate_backward(&dilate_with_argmax(x, dims).1, gy)
}

/// [`soft_dilate_backward`] from the position of each window's maximum.
fn dilate_backward(at: &[usize], gy: &[f64]) -> Vec<f64> {
    let mut gx = vec![0.0; gy.len()];
    for (j, &g) in gy.iter().enumerate() {
        gx[at[j]] += g;
    }
    gx
}

/// One step of the skeleton, what its backward needs: the per-axis minima of the image's
/// erosion and their positions, where each window of the opening's dilation took its
/// maximum, the image minus its opening (before the relu) and the skeleton before the step
/// (empty at step 0).
struct Step {
    erosion_axes: Vec<(Vec<f64>, Vec<usize>)>,
    dilation_at: Vec<usize>,
    residue: Vec<f64>,
    skel_before: Vec<f64>,
}

/// A soft skeleton and what its backward needs.
pub struct Skeleton {
    /// The soft skeleton.
    pub skel: Vec<f64>,
    steps: Vec<Step>,
}

fn relu(x: f64) -> f64 {
    x.max(0.0)
}

impl Skeleton {
    /// The soft skeleton of one plane after `iterations` erosions.
    pub fn of(x: &[f64], dims: &[usize], iterations: usize) -> Skeleton {
        let mut steps: Vec<Step> = Vec::with_capacity(iterations + 1);
        let mut skel: Vec<f64> = Vec::new();
        let mut image = x.to_vec();
        for k in 0..=iterations {
            let erosion_axes = erode_axes(&image, dims);
            let eroded = nested_min(&erosion_axes, image.len());
            let (opened, dilation_at) = dilate_with_argmax(&eroded, dims);
            let residue: Vec<f64> = image.iter().zip(&opened).map(|(a, b)| a - b).collect();
            let skel_before = std::mem::take(&mut skel);
            skel = if k == 0 {
                residue.iter().map(|&r| relu(r)).collect()
            } else {
                skel_before
                    .iter()
                    .zip(&residue)
                    .map(|(&s, &r)| {
                        let delta = relu(r);
                        s + relu(delta - s * delta)
                    })
                    .collect()
            };
            image = eroded;
            steps.push(Step { erosion_axes, dilation_at, residue, skel_before });
        }
        Skeleton { skel, steps }
    }

    /// ∂L/∂x given ∂L/∂skel.
    pub fn backward(&self, g_skel: &[f64]) -> Vec<f64> {
        let mut g_skel = g_skel.to_vec();
        // The gradient of the next step's image, which is this step's erosion.
        let mut g_next = vec![0.0; g_skel.len()];
        for (k, step) in self.steps.iter().enumerate().rev() {
            let mut g_residue = vec![0.0; g_skel.len()];
            for j in 0..g_skel.len() {
                let r = step.residue[j];
                let g_delta = if k == 0 {
                    g_skel[j]
                } else {
                    let (s, delta) = (step.skel_before[j], relu(r));
                    let gu = if delta - s * delta > 0.0 { g_skel[j] } else { 0.0 };
                    g_skel[j] -= gu * delta;
                    gu * (1.0 - s)
                };
                g_residue[j] = if r > 0.0 { g_delta } else { 0.0 };
            }
            let g_opened: Vec<f64> = g_residue.iter().map(|g| -g).collect();
            let mut g_eroded = dilate_backward(&step.dilation_at, &g_opened);
            g_eroded.iter_mut().zip(&g_next).for_each(|(a, b)| *a += b);
            let mut g_image = erode_backward(&step.erosion_axes, &g_eroded);
            g_image.iter_mut().zip(&g_residue).for_each(|(a, b)| *a += b);
            g_next = g_image;
        }
        g_next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Erosion and dilation against a direct scan of each window on a small 3-D grid.
    #[test]
    fn pooling_matches_a_direct_window_scan() {
        let dims = [3usize, 4, 5];
        let x: Vec<f64> = (0..60).map(|i| ((i * 37) % 11) as f64 * 0.1).collect();
        let coord = |j: usize| [j / 20, (j / 5) % 4, j % 5];
        let ero = soft_erode(&x, &dims);
        let dil = soft_dilate(&x, &dims);
        for j in 0..60 {
            let c = coord(j);
            let mut min_axes = f64::INFINITY;
            let mut max_all = f64::NEG_INFINITY;
            for (k, &xk) in x.iter().enumerate() {
                let d = coord(k);
                let off: Vec<i64> = (0..3).map(|a| d[a] as i64 - c[a] as i64).collect();
                if off.iter().all(|o| o.abs() <= 1) {
                    max_all = max_all.max(xk);
                }
                if off.iter().filter(|&&o| o != 0).count() <= 1 && off.iter().all(|o| o.abs() <= 1) {
                    min_axes = min_axes.min(xk);
                }
            }
            assert_eq!(ero[j], min_axes, "erode at {c:?}");
            assert_eq!(dil[j], max_all, "dilate at {c:?}");
        }
    }

    /// The dilation's gradient goes to the first maximum of the window in row-major order.
    #[test]
    fn dilation_gradient_goes_to_the_first_maximum() {
        let dims = [3usize, 3];
        let x = vec![0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0];
        let mut gy = vec![0.0; 9];
        gy[4] = 1.0; // the centre's window is the whole grid: first 1.0 is at (0, 1)
        assert_eq!(soft_dilate_backward(&x, &dims, &gy), vec![0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
    }

    /// A tie between the axes' minima splits the gradient in halves.
    #[test]
    fn erosion_ties_split_in_halves() {
        let dims = [3usize, 3];
        // At the centre the vertical minimum (0.2 at (0,1)) equals the horizontal (0.2 at (1,0)).
        let x = vec![0.9, 0.2, 0.9, 0.2, 0.5, 0.9, 0.9, 0.9, 0.9];
        let mut gy = vec![0.0; 9];
        gy[4] = 1.0;
        let g = soft_erode_backward(&x, &dims, &gy);
        assert_eq!((g[1], g[3], g.iter().sum::<f64>()), (0.5, 0.5, 1.0));
    }
}
