//! The planes of a batch that the neighbourhood and per-pixel losses work on (distance,
//! clDice, Wasserstein Dice): each selected (image, class) plane's probabilities and targets in
//! f64 — after the sigmoid, or the softmax over the classes — and the way back from ∂L/∂p to the
//! input's layout (through the sigmoid, as is for probabilities, or through the softmax).

use crate::error::{Error, Result};
use crate::input::Input;
use crate::options::{ClassOptions, TermOptions};
use crate::InputKind;

/// Probabilities and targets of the selected planes, plane after plane, and the gradient's
/// way back to the input.
pub(super) struct Planes {
    /// Pixels per plane and the spatial dims.
    pub pixels: usize,
    pub spatial: Vec<usize>,
    /// (image, class) of each selected plane.
    pub which: Vec<(usize, usize)>,
    /// p and t of every selected plane.
    pub p: Vec<f64>,
    pub t: Vec<f64>,
    /// Multiclass: the softmax of every class of every pixel, `[N, C, pixels]` (for the way back).
    pub softmax: Vec<f64>,
}

pub(super) fn unsupported(term: &TermOptions, what: &str) -> Error {
    Error::InvalidRequest(format!("term {}: this loss does not take {what}", term.index))
}

pub(super) fn planes(input: &Input, term: &TermOptions) -> Result<Planes> {
    let (shape, classes) = match input {
        Input::Binary(b) => (b.shape, b.channels),
        Input::Multiclass(m) => (m.shape, m.classes),
    };
    let spatial = shape.spatial().to_vec();
    let hw = shape.pixels();
    let which: Vec<(usize, usize)> =
        (0..shape.n).flat_map(|i| term.classes.selected(classes).into_iter().map(move |c| (i, c))).collect();
    let (mut p, mut t) = (Vec::with_capacity(which.len() * hw), Vec::with_capacity(which.len() * hw));
    let mut all = Vec::new();
    match input {
        Input::Binary(b) => {
            if b.ignore.is_some() {
                return Err(unsupported(term, "an ignore value"));
            }
            for &(i, c) in &which {
                let at = (i * classes + c) * hw;
                for j in at..at + hw {
                    let x = b.input[j] as f64;
                    p.push(if b.input_kind == InputKind::Logits { 1.0 / (1.0 + (-x).exp()) } else { x });
                    t.push(b.target[j] as f64);
                }
            }
        }
        Input::Multiclass(m) => {
            if m.ignore_index.is_some() {
                return Err(unsupported(term, "an ignore_index"));
            }
            all = softmax(m.logits, shape.n, classes, hw);
            for &(i, c) in &which {
                p.extend_from_slice(&all[(i * classes + c) * hw..(i * classes + c + 1) * hw]);
                t.extend((0..hw).map(|j| (m.target.get(i * hw + j) as usize == c) as u8 as f64));
            }
        }
    }
    Ok(Planes { pixels: hw, spatial, which, p, t, softmax: all })
}

/// Softmax over the classes of `[N, C, pixels]` logits, in f64.
pub(super) fn softmax(logits: &[f32], n: usize, c: usize, hw: usize) -> Vec<f64> {
    let mut out = vec![0.0; logits.len()];
    for i in 0..n {
        for j in 0..hw {
            let at = |k: usize| (i * c + k) * hw + j;
            let max = (0..c).map(|k| logits[at(k)] as f64).fold(f64::NEG_INFINITY, f64::max);
            let sum: f64 = (0..c).map(|k| (logits[at(k)] as f64 - max).exp()).sum();
            for k in 0..c {
                out[at(k)] = (logits[at(k)] as f64 - max).exp() / sum;
            }
        }
    }
    out
}

/// ∂L/∂p per selected pixel back to the input's layout: through the sigmoid, as is for
/// probabilities, or through the softmax (every class of the pixel).
pub(super) fn back_to_input(input: &Input, planes: &Planes, dp: &[f64]) -> Vec<f32> {
    let hw = planes.pixels;
    match input {
        Input::Binary(b) => {
            let mut g = vec![0.0f32; b.input.len()];
            for (k, &(i, c)) in planes.which.iter().enumerate() {
                let at = (i * b.channels + c) * hw;
                for j in 0..hw {
                    let p = planes.p[k * hw + j];
                    let slope = if b.input_kind == InputKind::Logits { p * (1.0 - p) } else { 1.0 };
                    g[at + j] = (dp[k * hw + j] * slope) as f32;
                }
            }
            g
        }
        Input::Multiclass(m) => {
            let c = m.classes;
            let n = m.shape.n;
            let mut dfull = vec![0.0f64; n * c * hw];
            for (k, &(i, cls)) in planes.which.iter().enumerate() {
                dfull[(i * c + cls) * hw..(i * c + cls + 1) * hw].copy_from_slice(&dp[k * hw..(k + 1) * hw]);
            }
            let soft = &planes.softmax;
            let mut g = vec![0.0f32; n * c * hw];
            for i in 0..n {
                for j in 0..hw {
                    let at = |k: usize| (i * c + k) * hw + j;
                    let dot: f64 = (0..c).map(|k| dfull[at(k)] * soft[at(k)]).sum();
                    for k in 0..c {
                        g[at(k)] = (soft[at(k)] * (dfull[at(k)] - dot)) as f32;
                    }
                }
            }
            g
        }
    }
}

/// Class options a loss that takes the selection only accepts.
pub(super) fn only_selection(classes: &ClassOptions) -> std::result::Result<(), String> {
    let ClassOptions { weights, normalize_weights: _, selection: _, absent: _, pool, class_distances: _ } = classes;
    match (weights, pool) {
        (Some(_), _) => Err("class weights are not supported by this loss".into()),
        (_, true) => Err("pooled classes are not supported by this loss".into()),
        _ => Ok(()),
    }
}

/// Refuses planes that are not 2-D or 3-D images (the neighbourhood losses need one of them).
pub(super) fn need_2d_or_3d(planes: &Planes, term: &TermOptions, what: &str) -> Result<()> {
    match planes.spatial.len() {
        2 | 3 => Ok(()),
        _ => Err(Error::InvalidRequest(format!(
            "term {}: {what} needs 2-D or 3-D images; got spatial dims {:?}",
            term.index, planes.spatial
        ))),
    }
}

/// `f(k)` for every plane k, spread over the host's cores (planes are independent).
pub(super) fn per_plane<T: Send>(count: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(count.max(1));
    if threads <= 1 {
        return (0..count).map(f).collect();
    }
    let chunk = count.div_ceil(threads);
    std::thread::scope(|scope| {
        let f = &f;
        let handles: Vec<_> = (0..count)
            .step_by(chunk)
            .map(|start| scope.spawn(move || (start..(start + chunk).min(count)).map(f).collect::<Vec<T>>()))
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("a plane worker panicked")).collect()
    })
}
