//! [`Engine`]: one API over the GPU path and the float64 reference, for binary, multilabel
//! and multiclass batches.

use crate::aggregate;
use crate::batch::BinaryBatch;
use crate::cpu;
use crate::error::{Error, Result};
use crate::gpu::blocking::{self, Want};
use crate::gpu::{BackendInfo, DispatchCount, EngineOptions, GpuContext};
use crate::input::{Input, Layout};
use crate::loss::{Family, Runner};
use crate::pixel::PixelParams;
use crate::stats::{Coefficients, Metrics, Stats};
use crate::term::Term;

enum Backend {
    Gpu(std::sync::Arc<GpuContext>),
    Reference,
}

/// Computes losses, metrics and gradients on a GPU (or on the float64 reference).
///
/// `Send + Sync`: share one engine between threads (`Arc<Engine>` or scoped threads); calls
/// from several threads run concurrently and give the same results as sequential calls.
/// (On the web, wasm32, wgpu's types and so the engine are neither.)
pub struct Engine {
    backend: Backend,
    reference_info: BackendInfo,
}

#[cfg(not(target_arch = "wasm32"))]
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Engine>();
    send_sync::<crate::plan::Plan>();
};

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
    /// The log-loss sums (`bce`, `focal`, `wce`) that no requested term reads are not
    /// computed and hold NaN ([`crate::LogSums`]); [`Engine::stats`] computes every sum.
    pub stats: Vec<Stats>,
    /// Thresholded metrics of the whole batch from the summed counts of every row
    /// (binary: the batch's metrics; multiclass/multilabel: micro-averaged). `None` when the
    /// request has only standalone (Lovasz) terms: then no fused pass runs and `stats` is empty.
    pub metrics: Option<Metrics>,
    /// Thresholded metrics per row (per image in binary mode).
    pub per_image_metrics: Vec<Metrics>,
    /// Per class, pooled over the batch (argmax for multiclass, p ≥ 0.5 otherwise).
    pub per_class_metrics: Vec<Metrics>,
    /// Mean of the per-class IoU over the classes that occur in the prediction or the target
    /// (`None` without a fused pass; 1 when no class occurs).
    pub mean_iou: Option<f64>,
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

/// Values of the standalone terms by term index, and the gradient of their weighted sum.
type StandaloneOut = (Vec<(usize, f64)>, Option<Vec<f32>>);

/// Rows, confusion matrix and gradient of one run.
type Run = blocking::Run;

impl Engine {
    /// A GPU engine on the default adapter of any backend (`WGPU_BACKEND=vulkan|gl|…` and
    /// `WGPU_ADAPTER_NAME` choose). No adapter → [`Error::NoAdapter`] saying how to get one.
    pub fn new() -> Result<Engine> {
        Engine::with_options(EngineOptions::default())
    }

    /// A GPU engine with options (subgroups, workgroup cap, binding-size limit).
    pub fn with_options(options: EngineOptions) -> Result<Engine> {
        Ok(Engine::gpu(GpuContext::new(&options, &crate::plan::finalize_source())?))
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
        Ok(Engine::gpu(GpuContext::from_device(device, queue, &options, &crate::plan::finalize_source())?))
    }

    /// [`Engine::new`] without blocking: for the web (wasm32, WebGPU), where nothing may block,
    /// and for async callers on native.
    pub async fn new_async() -> Result<Engine> {
        Engine::with_options_async(EngineOptions::default()).await
    }

    /// [`Engine::with_options`] without blocking.
    pub async fn with_options_async(options: EngineOptions) -> Result<Engine> {
        Ok(Engine::gpu(GpuContext::new_async(&options, &crate::plan::finalize_source()).await?))
    }

    /// [`Engine::from_device`] without blocking: on the web, with the device the page created.
    pub async fn from_device_async(device: wgpu::Device, queue: wgpu::Queue) -> Result<Engine> {
        Engine::from_device_with_options_async(device, queue, EngineOptions::default()).await
    }

    /// [`Engine::from_device_with_options`] without blocking.
    pub async fn from_device_with_options_async(
        device: wgpu::Device,
        queue: wgpu::Queue,
        options: EngineOptions,
    ) -> Result<Engine> {
        Ok(Engine::gpu(GpuContext::from_device_async(device, queue, &options, &crate::plan::finalize_source()).await?))
    }

    /// The float64 CPU reference behind the same API.
    pub fn cpu() -> Engine {
        Engine { backend: Backend::Reference, reference_info: reference_info() }
    }

    fn gpu(ctx: GpuContext) -> Engine {
        Engine { backend: Backend::Gpu(std::sync::Arc::new(ctx)), reference_info: reference_info() }
    }

    /// What the engine runs on.
    pub fn info(&self) -> &BackendInfo {
        match &self.backend {
            Backend::Gpu(ctx) => ctx.info(),
            Backend::Reference => &self.reference_info,
        }
    }

    /// Bytes of all the buffers this engine has created on its device so far (a running
    /// total, for memory accounting in tests and benchmarks; 0 for the reference). Blocking
    /// calls reuse pooled buffers, so a loop of same-sized calls stops adding to it after
    /// its first call.
    pub fn bytes_allocated(&self) -> u64 {
        match &self.backend {
            Backend::Gpu(ctx) => ctx.pool.created.load(std::sync::atomic::Ordering::Relaxed),
            Backend::Reference => 0,
        }
    }

    /// Frees the buffers the blocking calls keep for reuse (they are created again on the
    /// next call that needs them). No effect on the reference.
    pub fn release_buffers(&self) {
        if let Backend::Gpu(ctx) = &self.backend {
            ctx.pool.clear();
        }
    }

    /// GPU seconds of the compute passes run since the last call of this function, measured
    /// with timestamp queries (`EngineOptions::profile`). `None` on the reference, without
    /// `Features::TIMESTAMP_QUERY`, or when a call recorded more passes than one query set holds.
    pub fn take_gpu_time(&self) -> Option<f64> {
        match &self.backend {
            Backend::Gpu(ctx) => ctx.take_gpu_time(),
            Backend::Reference => None,
        }
    }

    /// Benchmark support: seconds of the roofline kernels on this adapter — a read-once reduce
    /// of `input_bytes` and a copy reading them and writing `output_elems` f32 — and whether
    /// they were measured with GPU timestamps (else host time around submit + wait). Medians of
    /// `reps` runs. Err on the reference.
    pub fn roofline(&self, input_bytes: u64, output_elems: u64, reps: usize) -> Result<(f64, f64, bool)> {
        match &self.backend {
            Backend::Gpu(ctx) => crate::gpu::roofline::roofline(ctx, input_bytes, output_elems, reps.max(1)),
            Backend::Reference => Err(Error::InvalidRequest("the roofline runs on a GPU engine".into())),
        }
    }

    /// Prepares a [`Plan`](crate::plan::Plan): pipelines, uniforms and scratch buffers made
    /// once, to record into the caller's command encoders (GPU engines only).
    pub fn plan(&self, desc: crate::plan::PlanDesc) -> Result<crate::plan::Plan> {
        match &self.backend {
            Backend::Gpu(ctx) => crate::plan::Plan::new(ctx.clone(), desc),
            Backend::Reference => Err(Error::InvalidRequest(
                "plans record GPU commands: use a GPU engine (the reference has forward / value_and_grad)".into(),
            )),
        }
    }

    /// Records commands with `record` into a new encoder (for example [`Plan::encode`]
    /// (crate::plan::Plan::encode) calls), submits them and waits, inside error scopes: a
    /// GPU validation or out-of-memory error is an `Err`, never a panic. GPU engines only.
    pub fn submit_and_wait(&self, record: impl FnOnce(&mut wgpu::CommandEncoder) -> Result<()>) -> Result<()> {
        let Backend::Gpu(ctx) = &self.backend else {
            return Err(Error::InvalidRequest("submit_and_wait needs a GPU engine".into()));
        };
        ctx.scoped(|| {
            let mut encoder = ctx.device.create_command_encoder(&Default::default());
            record(&mut encoder)?;
            ctx.queue.submit([encoder.finish()]);
            ctx.device
                .poll(wgpu::PollType::wait_indefinitely())
                .map_err(|e| Error::Gpu { during: "waiting for the GPU", detail: e.to_string() })?;
            Ok(())
        })
    }

    /// The GPU device and queue (None on the reference): create the buffers a
    /// [`Plan`](crate::plan::Plan) reads and writes on them.
    pub fn device(&self) -> Option<(&wgpu::Device, &wgpu::Queue)> {
        match &self.backend {
            Backend::Gpu(ctx) => Some((&ctx.device, &ctx.queue)),
            Backend::Reference => None,
        }
    }

    /// Whether this is the float64 reference.
    pub fn is_reference(&self) -> bool {
        matches!(self.backend, Backend::Reference)
    }

    /// Per-segment statistics of a binary or multilabel `batch` for the per-pixel
    /// parameters `pp` (one fused pass). The log-loss sums `pp.log_sums` leaves out are NaN
    /// ([`PixelParams::default`] computes all; [`PixelParams::from_terms`] those the terms read).
    pub fn stats(&self, batch: &BinaryBatch, pp: &PixelParams) -> Result<Vec<Stats>> {
        Ok(self.execute(Input::Binary(*batch), pp, Want::Forward, &mut DispatchCount::default())?.0)
    }

    /// The one place that dispatches the fused passes to the GPU or the reference.
    fn execute(&self, input: Input, pp: &PixelParams, want: Want, count: &mut DispatchCount) -> Result<Run> {
        match (&self.backend, input) {
            (Backend::Gpu(ctx), Input::Binary(b)) => blocking::run(ctx, &b, pp, want, count),
            (Backend::Gpu(ctx), Input::Multiclass(m)) => blocking::run_classes(ctx, &m, pp, want, count),
            (Backend::Reference, Input::Binary(b)) => {
                let mut rows = match &want {
                    Want::Backward(_) => Vec::new(),
                    _ => cpu::stats_pass(&b, pp)?,
                };
                pp.log_sums.blank(&mut rows);
                let grad = backward_coefficients(&want, &rows).map(|c| to_f32(cpu::grad_pass(&b, pp, &c)));
                Ok((rows, None, grad))
            }
            (Backend::Reference, Input::Multiclass(m)) => {
                let gamma = pp.focal_gamma;
                let (mut rows, confusion) = match &want {
                    Want::Backward(_) => (Vec::new(), Vec::new()),
                    _ => cpu::class_stats_pass(&m, gamma)?,
                };
                pp.log_sums.blank(&mut rows);
                let grad = backward_coefficients(&want, &rows).map(|c| to_f32(cpu::class_grad_pass(&m, gamma, &c)));
                Ok((rows, Some(confusion), grad))
            }
        }
    }

    fn runner(&self) -> Runner<'_> {
        match &self.backend {
            Backend::Gpu(ctx) => Runner::Gpu(ctx),
            Backend::Reference => Runner::Reference,
        }
    }

    fn prepare(&self, input: &Input, terms: &[Term]) -> Result<(PixelParams, Layout)> {
        let pp = PixelParams::from_terms(terms)?;
        let layout = input.layout();
        aggregate::check(terms, &layout)?;
        Ok((pp, layout))
    }

    /// Every requested loss and the thresholded metrics: one pass over the data for all the
    /// sum-based losses, plus the passes of each standalone term (Lovasz: a sort, per class
    /// for Lovasz softmax).
    pub fn forward<'a>(&self, input: impl Into<Input<'a>>, terms: &[Term]) -> Result<Forward> {
        let input = input.into();
        let (pp, layout) = self.prepare(&input, terms)?;
        let sums = sum_terms(terms);
        let mut count = DispatchCount::default();
        let (rows, confusion, _) =
            if sums.is_empty() { Default::default() } else { self.execute(input, &pp, Want::Forward, &mut count)? };
        let (standalone, _) = self.standalone(&input, terms, false)?;
        Ok(assemble(terms, &sums, layout, rows, confusion, count, &standalone))
    }

    /// Every requested loss and the gradient of Σ weight·loss: one forward and one backward
    /// pass for all the sum-based losses, whatever their number and the number of classes,
    /// plus the standalone terms' passes.
    pub fn value_and_grad<'a>(&self, input: impl Into<Input<'a>>, terms: &[Term]) -> Result<ValueAndGrad> {
        let input = input.into();
        let (pp, layout) = self.prepare(&input, terms)?;
        let sums = sum_terms(terms);
        let mut count = DispatchCount::default();
        let coefs = |rows: &[Stats]| aggregate::evaluate_checked(&sums, rows, &layout).1;
        let (rows, confusion, grad) = if sums.is_empty() {
            Default::default()
        } else {
            self.execute(input, &pp, Want::ForwardBackward(&coefs), &mut count)?
        };
        let (standalone, standalone_grad) = self.standalone(&input, terms, true)?;
        let mut grad = grad.unwrap_or_else(|| vec![0.0; input.len()]);
        if let Some(sg) = standalone_grad {
            for (g, l) in grad.iter_mut().zip(sg) {
                *g += l;
            }
        }
        Ok(ValueAndGrad { forward: assemble(terms, &sums, layout, rows, confusion, count, &standalone), grad })
    }

    /// Values of the standalone terms (by term index) and, with `grad`, the gradient of
    /// their weighted sum.
    fn standalone(&self, input: &Input, terms: &[Term], grad: bool) -> Result<StandaloneOut> {
        let mut values = Vec::new();
        let mut total: Option<Vec<f32>> = None;
        for (i, term) in terms.iter().enumerate() {
            let Family::Standalone(loss) = term.loss.def().family() else { continue };
            let (value, g) = loss.evaluate(self.runner(), input, &term.options(i), grad)?;
            values.push((i, value));
            if let Some(g) = g {
                match &mut total {
                    Some(t) => t.iter_mut().zip(g).for_each(|(a, b)| *a += b),
                    None => total = Some(g),
                }
            }
        }
        Ok((values, total))
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
        if let Some(t) = terms.iter().find(|t| t.loss.is_standalone()) {
            return Err(Error::InvalidRequest(format!(
                "{} is not a function of mergeable sums: it has no sharded backward",
                t.loss.name()
            )));
        }
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
        // No forward pass runs here, so the data checks run on the host.
        let bad = match &input {
            Input::Binary(b) => cpu::stats::check_data(b),
            Input::Multiclass(m) => cpu::classes::check_data(m),
        };
        if let Some(e) = bad {
            return Err(e);
        }
        if let Some((row, sum)) = pp.log_sums.first_missing(global) {
            return Err(Error::StatsMismatch(format!(
                "global row {row}: Σ{sum} is not finite (a forward pass leaves NaN in the sums its request \
                 does not read), but these terms read it: gather rows made for these terms"
            )));
        }
        let coefs = aggregate::evaluate_checked(terms, global, &layout).1[first_image * c..end * c].to_vec();
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
            Backend::Gpu(ctx) => crate::gpu::sort::sort_pairs(ctx, keys, values, segment_len),
            Backend::Reference => {
                if keys.len() != values.len() {
                    return Err(Error::InvalidRequest(format!("{} keys but {} values", keys.len(), values.len())));
                }
                if let Some(i) = values.iter().position(|&v| v == u32::MAX) {
                    return Err(Error::InvalidRequest(format!("value {i} is 0xffffffff, which marks padding")));
                }
                Ok(cpu::sort::sort_pairs(keys, values, segment_len))
            }
        }
    }

    /// Exact u32 prefix sums (wrapping at 2^32), exclusive or inclusive.
    pub fn prefix_scan(&self, data: &[u32], inclusive: bool) -> Result<Vec<u32>> {
        match &self.backend {
            Backend::Gpu(ctx) => crate::gpu::sort::prefix_scan(ctx, data, inclusive),
            Backend::Reference => Ok(cpu::sort::prefix_scan(data, inclusive)),
        }
    }

    /// The exact squared Euclidean distance transform of a batch of 2-D or 3-D masks, like
    /// scipy's `distance_transform_edt(mask, sampling=spacing)` squared, image by image:
    /// every foreground (nonzero) voxel gets Σ (Δᵢ·spacingᵢ)² to the nearest background (zero)
    /// voxel of its own image, background voxels get 0, and every voxel of an image with no
    /// background voxel gets +∞ (scipy measures to a point outside the array there).
    ///
    /// `shape` is `[N, H, W]` or `[N, D, H, W]`; `spacing` has one entry per spatial axis
    /// (`[sy, sx]` or `[sz, sy, sx]`). GPU: Felzenszwalb–Huttenlocher, one pass per axis, in
    /// f32 (exact for unit spacing while the squared distances are below 2^24); the reference
    /// computes the same stages in f64 and rounds once to f32.
    ///
    /// `Err` (before anything is allocated) when the rank is not 3 or 4, the shape's product
    /// overflows or differs from `mask.len()`, `spacing` has the wrong length, a spacing is
    /// not finite and > 0 (or its square is not a normal f32), the largest possible squared
    /// distance overflows f32, or, on the GPU, the distances or one line's scratch do not fit
    /// one storage binding.
    pub fn squared_distance_transform(&self, mask: &[u8], shape: &[usize], spacing: &[f64]) -> Result<Vec<f32>> {
        self.edt(mask, shape, spacing, false)
    }

    /// [`Engine::squared_distance_transform`]'s square root: the distance itself, as scipy's
    /// `distance_transform_edt` returns it (+∞ in images without background). The GPU takes
    /// the root of its f32 squares on the host; the reference of its f64 ones.
    pub fn distance_transform(&self, mask: &[u8], shape: &[usize], spacing: &[f64]) -> Result<Vec<f32>> {
        self.edt(mask, shape, spacing, true)
    }

    fn edt(&self, mask: &[u8], shape: &[usize], spacing: &[f64], root: bool) -> Result<Vec<f32>> {
        crate::loss::edt(self.runner(), mask, shape, spacing, root)
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
        sort: crate::SortStrategy::Auto,
        transfer: crate::Transfer::Auto,
        classes: crate::ClassStrategy::Auto,
    }
}

/// The sum-based terms (everything but the standalone losses).
fn sum_terms(terms: &[Term]) -> Vec<Term> {
    terms.iter().filter(|t| !t.loss.is_standalone()).cloned().collect()
}

fn assemble(
    terms: &[Term],
    sums: &[Term],
    layout: Layout,
    stats: Vec<Stats>,
    confusion: Option<Vec<u64>>,
    dispatches: DispatchCount,
    standalone: &[(usize, f64)],
) -> Forward {
    let (sum_values, _) = aggregate::evaluate_checked(sums, &stats, &layout);
    let mut sum_values = sum_values.into_iter();
    let values = terms
        .iter()
        .enumerate()
        .map(|(i, t)| {
            if t.loss.is_standalone() {
                standalone.iter().find(|(j, _)| *j == i).map_or(0.0, |(_, v)| *v)
            } else {
                sum_values.next().unwrap_or(0.0)
            }
        })
        .collect();
    let ran = !stats.is_empty();
    let metrics = ran.then(|| Stats::total(&stats).metrics());
    let per_image_metrics = stats.iter().map(Stats::metrics).collect();
    let c = if ran { layout.classes } else { 0 };
    let per_class: Vec<Stats> = (0..c).map(|k| Stats::total(stats.iter().skip(k).step_by(c))).collect();
    let per_class_metrics: Vec<Metrics> = per_class.iter().map(Stats::metrics).collect();
    let occurring: Vec<f64> =
        per_class.iter().filter(|s| s.hard_tp + s.hard_fp + s.hard_fn > 0).map(|s| s.metrics().iou).collect();
    let mean_iou =
        ran.then(|| if occurring.is_empty() { 1.0 } else { occurring.iter().sum::<f64>() / occurring.len() as f64 });
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
