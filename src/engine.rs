//! [`Engine`]: one API over the GPU path and the float64 reference, for binary, multilabel
//! and multiclass batches.

use crate::aggregate::{self, Layout, Mode};
use crate::batch::{BinaryBatch, MulticlassBatch};
use crate::cpu;
use crate::error::{Error, Result};
use crate::gpu::run::Want;
use crate::gpu::{BackendInfo, DispatchCount, EngineOptions, GpuContext};
use crate::loss::{Coefficients, PixelParams, Term};
use crate::stats::{Metrics, Stats};

enum Backend {
    Gpu(Box<GpuContext>),
    Reference,
}

/// Computes losses, metrics and gradients on a GPU (or on the float64 reference).
pub struct Engine {
    backend: Backend,
    reference_info: BackendInfo,
}

/// A batch of any mode.
#[derive(Debug, Clone, Copy)]
pub enum Input<'a> {
    /// Binary or multilabel (sigmoid per channel).
    Binary(BinaryBatch<'a>),
    /// Multiclass (softmax over classes).
    Multiclass(MulticlassBatch<'a>),
}

impl<'a> From<&BinaryBatch<'a>> for Input<'a> {
    fn from(b: &BinaryBatch<'a>) -> Input<'a> {
        Input::Binary(*b)
    }
}

impl<'a> From<&MulticlassBatch<'a>> for Input<'a> {
    fn from(b: &MulticlassBatch<'a>) -> Input<'a> {
        Input::Multiclass(*b)
    }
}

impl Input<'_> {
    /// Images, classes and mode.
    pub fn layout(&self) -> Layout {
        match self {
            Input::Binary(b) => Layout {
                images: b.shape.n,
                classes: b.channels,
                mode: if b.channels == 1 { Mode::Binary } else { Mode::Multilabel },
            },
            Input::Multiclass(m) => Layout { images: m.shape.n, classes: m.classes, mode: Mode::Multiclass },
        }
    }
}

/// The result of a forward pass.
#[derive(Debug, Clone)]
pub struct Forward {
    /// The requested terms, in order.
    pub terms: Vec<Term>,
    /// Each term's value (unweighted), in order.
    pub values: Vec<f64>,
    /// Images, classes and mode of `stats`.
    pub layout: Layout,
    /// Statistics per (image, class) row, image-major (one row per image in binary mode).
    pub stats: Vec<Stats>,
    /// Thresholded metrics of the whole batch from the summed counts of every row
    /// (binary: the batch's metrics; multiclass/multilabel: micro-averaged).
    pub metrics: Metrics,
    /// Thresholded metrics per row (per image in binary mode).
    pub per_image_metrics: Vec<Metrics>,
    /// Per class, pooled over the batch (argmax for multiclass, p ≥ 0.5 otherwise).
    pub per_class_metrics: Vec<Metrics>,
    /// Mean of the per-class IoU over the classes that occur in the prediction or the target.
    pub mean_iou: f64,
    /// Multiclass: the C×C confusion matrix, row = target class, column = argmax class.
    pub confusion: Option<Vec<u64>>,
    /// Passes the call made over the data.
    pub dispatches: DispatchCount,
}

impl Forward {
    /// Σ weight·value over the terms: the quantity whose gradient `value_and_grad` returns.
    pub fn total(&self) -> f64 {
        self.terms.iter().zip(&self.values).map(|(t, v)| t.weight * v).sum()
    }
}

/// Loss values and the gradient of their weighted total with respect to the input.
#[derive(Debug, Clone)]
pub struct ValueAndGrad {
    /// Values, statistics and metrics.
    pub forward: Forward,
    /// d(total)/d(input), same layout as the input; exactly 0 at ignored pixels.
    pub grad: Vec<f32>,
}

/// Rows, confusion matrix and gradient of one run.
type Run = (Vec<Stats>, Option<Vec<u64>>, Option<Vec<f32>>);

impl Engine {
    /// A GPU engine on the default adapter of any backend (`WGPU_BACKEND=vulkan|gl|…` and
    /// `WGPU_ADAPTER_NAME` choose). No adapter → [`Error::NoAdapter`] saying how to get one.
    pub fn new() -> Result<Engine> {
        Engine::with_options(EngineOptions::default())
    }

    /// A GPU engine with options (subgroups, workgroup cap, binding-size limit).
    pub fn with_options(options: EngineOptions) -> Result<Engine> {
        Ok(Engine::gpu(GpuContext::new(&options)?))
    }

    /// A GPU engine on the caller's device and queue.
    pub fn from_device(device: wgpu::Device, queue: wgpu::Queue) -> Result<Engine> {
        Engine::from_device_with_options(device, queue, EngineOptions::default())
    }

    /// [`Engine::from_device`] with options.
    pub fn from_device_with_options(
        device: wgpu::Device,
        queue: wgpu::Queue,
        options: EngineOptions,
    ) -> Result<Engine> {
        Ok(Engine::gpu(GpuContext::from_device(device, queue, &options)?))
    }

    /// The float64 CPU reference behind the same API.
    pub fn cpu() -> Engine {
        Engine { backend: Backend::Reference, reference_info: reference_info() }
    }

    fn gpu(ctx: GpuContext) -> Engine {
        Engine { backend: Backend::Gpu(Box::new(ctx)), reference_info: reference_info() }
    }

    /// What the engine runs on.
    pub fn info(&self) -> &BackendInfo {
        match &self.backend {
            Backend::Gpu(ctx) => ctx.info(),
            Backend::Reference => &self.reference_info,
        }
    }

    /// Whether this is the float64 reference.
    pub fn is_reference(&self) -> bool {
        matches!(self.backend, Backend::Reference)
    }

    /// Per-segment statistics of a binary or multilabel `batch` for the per-pixel
    /// parameters `pp` (one fused pass).
    pub fn stats(&self, batch: &BinaryBatch, pp: &PixelParams) -> Result<Vec<Stats>> {
        Ok(self.execute(Input::Binary(*batch), pp, Want::Forward, &mut DispatchCount::default())?.0)
    }

    /// The one place that dispatches to the GPU or the reference.
    fn execute(&self, input: Input, pp: &PixelParams, want: Want, count: &mut DispatchCount) -> Result<Run> {
        let gamma = pp.focal_gamma;
        match (&self.backend, input) {
            (Backend::Gpu(ctx), Input::Binary(b)) => {
                let (rows, grad) = ctx.run(&b, pp, want, count)?;
                Ok((rows, None, grad))
            }
            (Backend::Gpu(ctx), Input::Multiclass(m)) => {
                let (rows, confusion, grad) = ctx.run_classes(&m, gamma, want, count)?;
                Ok((rows, Some(confusion), grad))
            }
            (Backend::Reference, Input::Binary(b)) => {
                let rows = match &want {
                    Want::Backward(_) => Vec::new(),
                    _ => cpu::stats_pass(&b, pp)?,
                };
                let grad = backward_coefficients(&want, &rows).map(|c| to_f32(cpu::grad_pass(&b, pp, &c)));
                Ok((rows, None, grad))
            }
            (Backend::Reference, Input::Multiclass(m)) => {
                let (rows, confusion) = match &want {
                    Want::Backward(_) => (Vec::new(), Vec::new()),
                    _ => cpu::class_stats_pass(&m, gamma)?,
                };
                let grad = backward_coefficients(&want, &rows).map(|c| to_f32(cpu::class_grad_pass(&m, gamma, &c)));
                Ok((rows, Some(confusion), grad))
            }
        }
    }

    fn prepare(&self, input: &Input, terms: &[Term]) -> Result<(PixelParams, Layout)> {
        let pp = PixelParams::from_terms(terms)?;
        let layout = input.layout();
        aggregate::check(terms, &layout)?;
        Ok((pp, layout))
    }

    /// Every requested loss and the thresholded metrics, in one pass over the data.
    pub fn forward<'a>(&self, input: impl Into<Input<'a>>, terms: &[Term]) -> Result<Forward> {
        let input = input.into();
        let (pp, layout) = self.prepare(&input, terms)?;
        let mut count = DispatchCount::default();
        let (rows, confusion, _) = self.execute(input, &pp, Want::Forward, &mut count)?;
        Ok(assemble(terms, layout, rows, confusion, count))
    }

    /// Every requested loss and the gradient of Σ weight·loss: one forward pass, then one
    /// backward pass, whatever the number of terms and classes.
    pub fn value_and_grad<'a>(&self, input: impl Into<Input<'a>>, terms: &[Term]) -> Result<ValueAndGrad> {
        let input = input.into();
        let (pp, layout) = self.prepare(&input, terms)?;
        let mut count = DispatchCount::default();
        let coefs = |rows: &[Stats]| aggregate::evaluate(terms, rows, &layout).1;
        let (rows, confusion, grad) = self.execute(input, &pp, Want::ForwardBackward(&coefs), &mut count)?;
        Ok(ValueAndGrad { forward: assemble(terms, layout, rows, confusion, count), grad: grad.unwrap_or_default() })
    }

    /// The backward pass of a shard of a larger batch, given the statistics rows of the
    /// whole batch (`global`, gathered from every shard; `layout.rows()` of them for the
    /// global layout) and the index in it of this shard's first image. Runs no forward pass.
    /// With only batch-aggregated terms, `global` may be any split of the batch into
    /// images, e.g. one merged row set per shard.
    pub fn backward_with_stats<'a>(
        &self,
        input: impl Into<Input<'a>>,
        terms: &[Term],
        global: &[Stats],
        first_image: usize,
    ) -> Result<Vec<f32>> {
        let input = input.into();
        let (pp, local) = self.prepare(&input, terms)?;
        let c = local.classes;
        let images = global.len() / c;
        let end = first_image.checked_add(local.images).filter(|&e| e <= images && global.len() % c == 0);
        let Some(end) = end else {
            return Err(Error::StatsMismatch(format!(
                "this shard's images {first_image}..{} ({c} rows each) do not lie inside the {} global rows",
                first_image.saturating_add(local.images),
                global.len()
            )));
        };
        let layout = Layout { images, ..local };
        let coefs = aggregate::evaluate(terms, global, &layout).1[first_image * c..end * c].to_vec();
        let (_, _, grad) = self.execute(input, &pp, Want::Backward(&coefs), &mut DispatchCount::default())?;
        Ok(grad.unwrap_or_default())
    }
}

impl Engine {
    /// Sorts (key, value) pairs stably by (value / segment_len, key): the GPU radix sort
    /// (or its reference). Pass `usize::MAX` as `segment_len` for one segment. The value
    /// 0xffffffff is reserved (padding) and rejected.
    pub fn sort_pairs(&self, keys: &[u32], values: &[u32], segment_len: usize) -> Result<(Vec<u32>, Vec<u32>)> {
        match &self.backend {
            Backend::Gpu(ctx) => ctx.sort_pairs(keys, values, segment_len),
            Backend::Reference => {
                if keys.len() != values.len() {
                    return Err(Error::InvalidRequest(format!("{} keys but {} values", keys.len(), values.len())));
                }
                Ok(cpu::sort::sort_pairs(keys, values, segment_len))
            }
        }
    }

    /// Exact u32 prefix sums (wrapping at 2^32), exclusive or inclusive.
    pub fn prefix_scan(&self, data: &[u32], inclusive: bool) -> Result<Vec<u32>> {
        match &self.backend {
            Backend::Gpu(ctx) => ctx.prefix_scan(data, inclusive),
            Backend::Reference => Ok(cpu::sort::prefix_scan(data, inclusive)),
        }
    }
}

fn backward_coefficients(want: &Want, rows: &[Stats]) -> Option<Vec<Coefficients>> {
    match want {
        Want::Forward => None,
        Want::ForwardBackward(f) => Some(f(rows)),
        Want::Backward(given) => Some(given.to_vec()),
    }
}

fn to_f32(v: Vec<f64>) -> Vec<f32> {
    v.into_iter().map(|g| g as f32).collect()
}

fn reference_info() -> BackendInfo {
    BackendInfo {
        name: "float64 reference".into(),
        backend: "cpu-f64".into(),
        device_type: "Cpu".into(),
        subgroups: false,
    }
}

fn assemble(
    terms: &[Term],
    layout: Layout,
    stats: Vec<Stats>,
    confusion: Option<Vec<u64>>,
    dispatches: DispatchCount,
) -> Forward {
    let (values, _) = aggregate::evaluate(terms, &stats, &layout);
    let metrics = Stats::total(&stats).metrics();
    let per_image_metrics = stats.iter().map(Stats::metrics).collect();
    let c = layout.classes;
    let per_class: Vec<Stats> = (0..c).map(|k| Stats::total(stats.iter().skip(k).step_by(c))).collect();
    let per_class_metrics: Vec<Metrics> = per_class.iter().map(Stats::metrics).collect();
    let occurring: Vec<f64> =
        per_class.iter().filter(|s| s.hard_tp + s.hard_fp + s.hard_fn > 0).map(|s| s.metrics().iou).collect();
    let mean_iou = if occurring.is_empty() { 1.0 } else { occurring.iter().sum::<f64>() / occurring.len() as f64 };
    Forward {
        terms: terms.to_vec(),
        values,
        layout,
        stats,
        metrics,
        per_image_metrics,
        per_class_metrics,
        mean_iou,
        confusion,
        dispatches,
    }
}
