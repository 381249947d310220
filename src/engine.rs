//! [`Engine`]: one API over the GPU path and the float64 reference.

use crate::batch::BinaryBatch;
use crate::cpu;
use crate::error::{Error, Result};
use crate::gpu::run::Want;
use crate::gpu::{BackendInfo, DispatchCount, EngineOptions, GpuContext};
use crate::loss::{self, Coefficients, PixelParams, Term};
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

/// The result of a forward pass.
#[derive(Debug, Clone)]
pub struct Forward {
    /// The requested terms, in order.
    pub terms: Vec<Term>,
    /// Each term's value (unweighted), in order.
    pub values: Vec<f64>,
    /// Per-image statistics (mergeable; see [`Stats`]).
    pub stats: Vec<Stats>,
    /// Thresholded metrics of the whole batch (from summed counts).
    pub metrics: Metrics,
    /// Thresholded metrics per image.
    pub per_image_metrics: Vec<Metrics>,
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

    /// Per-image statistics of `batch` for the per-pixel parameters `pp` (one fused pass).
    pub fn stats(&self, batch: &BinaryBatch, pp: &PixelParams) -> Result<Vec<Stats>> {
        match &self.backend {
            Backend::Gpu(ctx) => Ok(ctx.run(batch, pp, Want::Forward, &mut DispatchCount::default())?.0),
            Backend::Reference => cpu::stats_pass(batch, pp),
        }
    }

    /// Every requested loss and the thresholded metrics, in one pass over the data.
    pub fn forward(&self, batch: &BinaryBatch, terms: &[Term]) -> Result<Forward> {
        let pp = PixelParams::from_terms(terms)?;
        let mut count = DispatchCount::default();
        let stats = match &self.backend {
            Backend::Gpu(ctx) => ctx.run(batch, &pp, Want::Forward, &mut count)?.0,
            Backend::Reference => cpu::stats_pass(batch, &pp)?,
        };
        Ok(assemble(terms, stats, count))
    }

    /// Every requested loss and the gradient of Σ weight·loss: one forward pass, then one
    /// elementwise backward pass, whatever the number of terms.
    pub fn value_and_grad(&self, batch: &BinaryBatch, terms: &[Term]) -> Result<ValueAndGrad> {
        let pp = PixelParams::from_terms(terms)?;
        let mut count = DispatchCount::default();
        let (stats, grad) = match &self.backend {
            Backend::Gpu(ctx) => {
                let coefs = |s: &[Stats]| loss::evaluate(terms, s).1;
                let (stats, grad) = ctx.run(batch, &pp, Want::ForwardBackward(&coefs), &mut count)?;
                (stats, grad.unwrap_or_default())
            }
            Backend::Reference => {
                let stats = cpu::stats_pass(batch, &pp)?;
                let coefs = loss::evaluate(terms, &stats).1;
                (stats, cpu::grad_pass(batch, &pp, &coefs).into_iter().map(|g| g as f32).collect())
            }
        };
        Ok(ValueAndGrad { forward: assemble(terms, stats, count), grad })
    }

    /// The backward pass of a shard of a larger batch, given the per-image statistics of
    /// the whole batch (`global`, gathered from every shard) and the index in it of this
    /// shard's first image. Runs no forward pass. With only batch-aggregated terms, `global`
    /// may be any per-image split of the batch, e.g. one merged `Stats` per shard.
    pub fn backward_with_stats(
        &self,
        batch: &BinaryBatch,
        terms: &[Term],
        global: &[Stats],
        first_image: usize,
    ) -> Result<Vec<f32>> {
        let pp = PixelParams::from_terms(terms)?;
        let n = batch.shape.n;
        if first_image.checked_add(n).is_none_or(|end| end > global.len()) {
            return Err(Error::StatsMismatch(format!(
                "this shard's images {first_image}..{} do not lie inside the {} global statistics",
                first_image.saturating_add(n),
                global.len()
            )));
        }
        let coefs: Vec<Coefficients> = loss::evaluate(terms, global).1[first_image..first_image + n].to_vec();
        match &self.backend {
            Backend::Gpu(ctx) => {
                let (_, grad) = ctx.run(batch, &pp, Want::Backward(&coefs), &mut DispatchCount::default())?;
                Ok(grad.unwrap_or_default())
            }
            Backend::Reference => Ok(cpu::grad_pass(batch, &pp, &coefs).into_iter().map(|g| g as f32).collect()),
        }
    }
}

fn reference_info() -> BackendInfo {
    BackendInfo {
        name: "float64 reference".into(),
        backend: "cpu-f64".into(),
        device_type: "Cpu".into(),
        subgroups: false,
    }
}

fn assemble(terms: &[Term], stats: Vec<Stats>, dispatches: DispatchCount) -> Forward {
    let (values, _) = loss::evaluate(terms, &stats);
    let metrics = Stats::total(&stats).metrics();
    let per_image_metrics = stats.iter().map(Stats::metrics).collect();
    Forward { terms: terms.to_vec(), values, stats, metrics, per_image_metrics, dispatches }
}
