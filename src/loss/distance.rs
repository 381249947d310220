//! Distance-based losses, as MONAI 1.6.1 defines them: the Hausdorff distance-transform loss
//! (Karimi & Salcudean 2019; `HausdorffDTLoss`, `LogHausdorffDTLoss`) and the boundary loss
//! (Kervadec et al. 2019; `BoundaryLoss`). Each selected (image, class) plane gets distance
//! maps of its masks — exact Euclidean distance transforms, the stages of
//! [`crate::Engine::distance_transform`]: on the GPU with a GPU engine, the f64 reference
//! otherwise; constants for the gradient, as in MONAI — and its loss is the plane's mean of a
//! per-pixel term:
//!
//! - Hausdorff: (p − t)²·(d_p^α + d_t^α), where d_m is each pixel's distance to the other side
//!   of mask m (m = p > 0.5, t > 0.5), and 0 on the whole plane when m is empty or full;
//! - Boundary: p·s, where s = −(distance to the background − 1) inside the target, the
//!   distance to the target outside it, and 0 on a plane whose target is empty or full.
//!
//! The term's value is the mean over every image's selected planes (per image and batch
//! aggregation agree: every plane has the same size); `log` gives ln(1 + value). The
//! per-pixel sums and the gradient (∂/∂p, then through the sigmoid or the softmax) run on the
//! host in f64 on both engines. 2-D and 3-D images; no ignore value, no class weights.

use super::planes::{back_to_input, need_2d_or_3d, only_selection, planes, Planes};
use super::{Catalogued, Family, Keywords, LossDef, Runner, StandaloneLoss};
use crate::check::non_negative;
use crate::error::Result;
use crate::input::Input;
use crate::options::{ClassOptions, TermOptions};

/// Hausdorff distance-transform loss: mean of (p − t)²·(d_p^α + d_t^α) (MONAI `HausdorffDTLoss`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HausdorffDt {
    /// The exponent of the distances (MONAI: 2).
    pub alpha: f64,
    /// ln(1 + loss) (MONAI `LogHausdorffDTLoss`).
    pub log: bool,
}

impl Default for HausdorffDt {
    fn default() -> Self {
        HausdorffDt { alpha: 2.0, log: false }
    }
}

/// Boundary loss: mean of p·s, s the target's signed distance map (MONAI `BoundaryLoss`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Boundary;

/// The exact Euclidean distance transform of a batch of masks on the runner's engine
/// (squared, or its root): what `Engine::squared_distance_transform` / `distance_transform`
/// compute.
pub(crate) fn edt(runner: Runner, mask: &[u8], shape: &[usize], spacing: &[f64], root: bool) -> Result<Vec<f32>> {
    let grid = crate::grid::Grid::new(mask.len(), shape, spacing)?;
    match runner {
        Runner::Gpu(ctx) => {
            let mut d = crate::gpu::edt::squared_distance_transform(ctx, mask, &grid)?;
            if root {
                d.iter_mut().for_each(|v| *v = v.sqrt());
            }
            Ok(d)
        }
        Runner::Reference => {
            let d = crate::cpu::edt::squared_distance_transform(mask, shape, spacing)?;
            Ok(d.into_iter().map(|v| if root { v.sqrt() as f32 } else { v as f32 }).collect())
        }
    }
}

/// For each mask (plane after plane), each pixel's distance to the other side of it: the
/// distance to the background inside, to the foreground outside (`inside`, `outside`), both
/// 0 on a plane that is empty or full. Two transforms per mask, in one batch.
fn two_sided(runner: Runner, masks: &[u8], planes: usize, spatial: &[usize]) -> Result<(Vec<f32>, Vec<f32>)> {
    let hw = masks.len() / planes.max(1);
    let both: Vec<u8> = masks.iter().copied().chain(masks.iter().map(|&m| (m == 0) as u8)).collect();
    let shape: Vec<usize> = std::iter::once(2 * planes).chain(spatial.iter().copied()).collect();
    let d = edt(runner, &both, &shape, &vec![1.0; spatial.len()], true)?;
    let (mut inside, mut outside) = (d[..masks.len()].to_vec(), d[masks.len()..].to_vec());
    for k in 0..planes {
        let plane = &masks[k * hw..(k + 1) * hw];
        if plane.iter().all(|&m| m != 0) || plane.iter().all(|&m| m == 0) {
            inside[k * hw..(k + 1) * hw].fill(0.0);
            outside[k * hw..(k + 1) * hw].fill(0.0);
        }
    }
    Ok((inside, outside))
}

/// The mean of per-pixel terms over the selected planes and its gradient: `term(k, j)` gives
/// (value, ∂value/∂p) of pixel j of plane k.
fn mean_and_grad(
    input: &Input,
    planes: &Planes,
    opts: &TermOptions,
    log: bool,
    grad: bool,
    term: impl Fn(usize) -> (f64, f64),
) -> (f64, Option<Vec<f32>>) {
    let count = planes.p.len();
    if count == 0 {
        return (0.0, grad.then(|| vec![0.0; input.len()]));
    }
    let mut sum = 0.0;
    let mut dp: Vec<f64> = Vec::with_capacity(if grad { count } else { 0 });
    for k in 0..count {
        let (v, d) = term(k);
        sum += v;
        if grad {
            dp.push(d);
        }
    }
    let mean = sum / count as f64;
    let (value, outer) = if log { ((1.0 + mean).ln(), 1.0 / (1.0 + mean)) } else { (mean, 1.0) };
    let gradient = grad.then(|| {
        let scale = opts.weight * outer / count as f64;
        dp.iter_mut().for_each(|d| *d *= scale);
        back_to_input(input, planes, &dp)
    });
    (value, gradient)
}

impl LossDef for HausdorffDt {
    fn validate(&self) -> Result<()> {
        non_negative("HausdorffDt", "alpha", self.alpha)?;
        crate::check::finite("HausdorffDt", "alpha", self.alpha)
    }

    fn label(&self) -> Option<&'static str> {
        self.log.then_some("log_hausdorff_dt")
    }

    fn check_classes(&self, classes: &ClassOptions) -> std::result::Result<(), String> {
        only_selection(classes)
    }

    fn family(&self) -> Family<'_> {
        Family::Standalone(self)
    }
}

impl StandaloneLoss for HausdorffDt {
    fn evaluate(
        &self,
        runner: Runner,
        input: &Input,
        opts: &TermOptions,
        grad: bool,
    ) -> Result<(f64, Option<Vec<f32>>)> {
        let planes = planes(input, opts)?;
        need_2d_or_3d(&planes, opts, "the distance losses")?;
        let masks: Vec<u8> =
            planes.p.iter().map(|&p| (p > 0.5) as u8).chain(planes.t.iter().map(|&t| (t > 0.5) as u8)).collect();
        let (inside, outside) = two_sided(runner, &masks, 2 * planes.which.len(), &planes.spatial)?;
        let n = planes.p.len();
        // d_m = inside + outside (one of them is 0 at every pixel), as f32 like MONAI's field.
        let dist = |k: usize| (inside[k] + outside[k]) as f64;
        let alpha = self.alpha;
        Ok(mean_and_grad(input, &planes, opts, self.log, grad, |k| {
            let w = dist(k).powf(alpha) + dist(n + k).powf(alpha);
            let e = planes.p[k] - planes.t[k];
            (e * e * w, 2.0 * e * w)
        }))
    }
}

impl LossDef for Boundary {
    fn validate(&self) -> Result<()> {
        Ok(())
    }

    fn check_classes(&self, classes: &ClassOptions) -> std::result::Result<(), String> {
        only_selection(classes)
    }

    fn family(&self) -> Family<'_> {
        Family::Standalone(self)
    }
}

impl StandaloneLoss for Boundary {
    fn evaluate(
        &self,
        runner: Runner,
        input: &Input,
        opts: &TermOptions,
        grad: bool,
    ) -> Result<(f64, Option<Vec<f32>>)> {
        let planes = planes(input, opts)?;
        need_2d_or_3d(&planes, opts, "the distance losses")?;
        let masks: Vec<u8> = planes.t.iter().map(|&t| (t > 0.5) as u8).collect();
        let (inside, outside) = two_sided(runner, &masks, planes.which.len(), &planes.spatial)?;
        // s = −(d_inside − 1) inside, d_outside outside; 0 on empty and full planes.
        let signed = |k: usize| match masks[k] != 0 && inside[k] > 0.0 {
            true => -(inside[k] as f64 - 1.0),
            false => outside[k] as f64,
        };
        Ok(mean_and_grad(input, &planes, opts, false, grad, |k| (planes.p[k] * signed(k), signed(k))))
    }
}

impl Catalogued for HausdorffDt {
    const NAME: &'static str = "hausdorff_dt";
    const KEYWORDS: &'static [&'static str] = &["alpha", "log"];
    const GPU_KINDS: &'static [&'static str] = &[];

    fn from_keywords(kw: &dyn Keywords) -> Result<Self> {
        let d = HausdorffDt::default();
        Ok(HausdorffDt { alpha: kw.f64("alpha", d.alpha)?, log: kw.bool("log", d.log)? })
    }

    fn examples() -> Vec<Self> {
        vec![HausdorffDt::default(), HausdorffDt { alpha: 1.0, log: true }, HausdorffDt { alpha: 0.5, log: false }]
    }
}

impl Catalogued for Boundary {
    const NAME: &'static str = "boundary";
    const KEYWORDS: &'static [&'static str] = &[];
    const GPU_KINDS: &'static [&'static str] = &[];

    fn from_keywords(_kw: &dyn Keywords) -> Result<Self> {
        Ok(Boundary)
    }

    fn examples() -> Vec<Self> {
        vec![Boundary]
    }
}
