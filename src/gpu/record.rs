//! The recorder: the one place that binds and dispatches the forward and backward passes of
//! a chunk ([`ChunkPasses`]). The blocking path (`blocking.rs`: upload, record, submit, read
//! back) and plans (`plan/`: record into the caller's encoder) both go through it.
//!
//! Forward, per chunk: the first stage (`stats_partials` for sigmoid rows; for softmax rows
//! `class_stats`, or `class_pixels` then `class_planes` — `ClassStrategy`) writes partial
//! sums; `stats_final` reduces them in a fixed order into one row per segment. Backward, per
//! chunk: `grad` or `class_grad` writes every element's gradient from its row's coefficients. The first stage and the backward kernel
//! are specialised to the chunk's uniform (`stage_pipeline`, `backward_pipeline`;
//! specialize.rs).

use super::chunk::{ChunkPasses, Stage};
use super::context::{GpuContext, Pipelines};
use super::specialize::Spec;

/// The buffers a chunk's forward pass binds.
pub(crate) struct ForwardBuffers<'a> {
    /// The first stage's uniform (`ChunkPasses::forward`).
    pub params: wgpu::BufferBinding<'a>,
    /// `stats_final`'s uniform (`ChunkPasses::reduce`; sigmoid: may be `params`).
    pub reduce_params: wgpu::BufferBinding<'a>,
    /// The chunk's logits.
    pub logits: wgpu::BufferBinding<'a>,
    /// The chunk's targets (multiclass: its class map).
    pub targets: wgpu::BufferBinding<'a>,
    /// Partial sums scratch (`ChunkPasses::partial_rows` rows).
    pub partials: wgpu::BufferBinding<'a>,
    /// The status word (first bad input, first bad target).
    pub status: wgpu::BufferBinding<'a>,
    /// Where the chunk's rows go.
    pub rows: wgpu::BufferBinding<'a>,
    /// Multiclass: the C×C confusion counts (cleared by the caller).
    pub confusion: Option<wgpu::BufferBinding<'a>>,
    /// `Stage::Planes`: the pixel summary scratch (`ChunkPasses::pixel_words` words).
    pub pixels: Option<wgpu::BufferBinding<'a>>,
}

/// Where the backward pass reads its per-row coefficients.
pub(crate) enum CoefTable<'a> {
    /// A storage array, any number of rows (`grad.wgsl`, `class_grad.wgsl`).
    Storage(wgpu::BufferBinding<'a>),
    /// A uniform table of `UNIFORM_COEFS` rows (`Kernel::ClassGradUniform`; only for
    /// chunks whose `ChunkPasses::uniform_coefs` holds).
    Uniform(wgpu::BufferBinding<'a>),
}

/// The buffers a chunk's backward pass binds.
pub(crate) struct BackwardBuffers<'a> {
    /// Its uniform (`ChunkPasses::backward`).
    pub params: wgpu::BufferBinding<'a>,
    /// The chunk's logits.
    pub logits: wgpu::BufferBinding<'a>,
    /// The chunk's targets.
    pub targets: wgpu::BufferBinding<'a>,
    /// Backward coefficients per row.
    pub coefs: CoefTable<'a>,
    /// The chunk's gradient.
    pub grad: wgpu::BufferBinding<'a>,
}

/// Bind groups of a chunk's forward pass.
pub(crate) struct ForwardGroups {
    stage: wgpu::BindGroup,
    /// `Stage::Planes`: class_planes.wgsl's.
    planes: Option<wgpu::BindGroup>,
    reduce: wgpu::BindGroup,
}

/// The forward pass's bind groups for `passes` over `b`. A multiclass stage needs
/// `b.confusion`, and `Stage::Planes` `b.pixels`: without them these are the sigmoid
/// stage's groups, which wgpu's validation refuses (an `Err` from the error scope).
pub(crate) fn forward_groups(ctx: &GpuContext, passes: &ChunkPasses, b: ForwardBuffers) -> ForwardGroups {
    let pl = &ctx.pipelines;
    let reduce = ctx.bind_ranges(&pl.final_layout, &[b.reduce_params.clone(), b.partials.clone(), b.rows]);
    let (stage, planes) = match (passes.stage, b.confusion, b.pixels) {
        (Stage::Softmax { .. }, Some(confusion), _) => {
            let g = [b.params, b.logits, b.targets, b.partials, b.status, confusion];
            (ctx.bind_ranges(&pl.class_stats_layout, &g), None)
        }
        (Stage::Planes { .. }, Some(confusion), Some(pixels)) => {
            let first = [b.params, b.logits.clone(), b.targets.clone(), pixels.clone(), b.status, confusion];
            let second = [b.reduce_params, b.logits, b.targets, b.partials, pixels];
            (ctx.bind_ranges(&pl.class_stats_layout, &first), Some(ctx.bind_ranges(&pl.class_planes_layout, &second)))
        }
        _ => (ctx.bind_ranges(&pl.stats_layout, &[b.params, b.logits, b.targets, b.partials, b.status]), None),
    };
    ForwardGroups { stage, planes, reduce }
}

/// The first-stage pipelines of a chunk: one kernel, or (`Stage::Planes`) two.
pub(crate) struct StagePipelines {
    first: wgpu::ComputePipeline,
    planes: Option<wgpu::ComputePipeline>,
}

/// The backward pass's bind group.
pub(crate) fn backward_group(ctx: &GpuContext, b: BackwardBuffers) -> wgpu::BindGroup {
    let (layout, coefs) = match b.coefs {
        CoefTable::Storage(c) => (&ctx.pipelines.grad_layout, c),
        CoefTable::Uniform(c) => (&ctx.pipelines.class_grad_uniform_layout, c),
    };
    ctx.bind_ranges(layout, &[b.params, b.logits, b.targets, coefs, b.grad])
}

/// The first stage of `passes`, specialised to its uniform.
pub(crate) fn stage_pipeline(ctx: &GpuContext, passes: &ChunkPasses) -> StagePipelines {
    let spec = Spec::new(&passes.forward);
    let pl = &ctx.pipelines;
    let (first, planes) = match passes.stage {
        Stage::Sigmoid { .. } => (pl.stats_partials.get(&ctx.device, spec), None),
        Stage::Softmax { .. } => (pl.class_stats.get(&ctx.device, spec), None),
        Stage::Planes { .. } => (pl.class_pixels.get(&ctx.device, spec), Some(pl.class_planes.get(&ctx.device, spec))),
    };
    StagePipelines { first, planes }
}

/// The backward kernel of `passes`, specialised to its uniform and to the backward `terms`
/// (`TERM_*`) whose coefficients may be non-zero, for coefficients in a uniform table
/// (`uniform`: [`CoefTable::Uniform`]) or in storage.
pub(crate) fn backward_pipeline(
    ctx: &GpuContext,
    passes: &ChunkPasses,
    terms: u32,
    uniform: bool,
) -> wgpu::ComputePipeline {
    let spec = Spec::new(&passes.backward).with_terms(terms);
    let pl = &ctx.pipelines;
    match (passes.stage, uniform) {
        (Stage::Sigmoid { .. }, _) => pl.grad.get(&ctx.device, spec),
        (_, false) => pl.class_grad.get(&ctx.device, spec),
        (_, true) => pl.class_grad_uniform.get(&ctx.device, spec),
    }
}

/// Records a chunk's forward pass: first stage (`stage`: [`stage_pipeline`] of `passes`),
/// then the rows.
pub(crate) fn record_forward(
    pass: &mut wgpu::ComputePass,
    pl: &Pipelines,
    stage: &StagePipelines,
    passes: &ChunkPasses,
    g: &ForwardGroups,
) {
    pass.set_pipeline(&stage.first);
    pass.set_bind_group(0, &g.stage, &[]);
    match passes.stage {
        Stage::Sigmoid { workgroups, segments } => pass.dispatch_workgroups(workgroups, segments, 1),
        Stage::Softmax { workgroups, images, class_blocks } => {
            pass.dispatch_workgroups(workgroups, images, class_blocks)
        }
        Stage::Planes { workgroups, images, plane_workgroups } => {
            pass.dispatch_workgroups(workgroups, images, 1);
            if let (Some(pipeline), Some(group)) = (&stage.planes, &g.planes) {
                pass.set_pipeline(pipeline);
                pass.set_bind_group(0, group, &[]);
                pass.dispatch_workgroups(plane_workgroups, passes.rows as u32, 1);
            }
        }
    }
    pass.set_pipeline(&pl.stats_final);
    pass.set_bind_group(0, &g.reduce, &[]);
    let (x, y) = pl.final_grid(passes.rows);
    pass.dispatch_workgroups(x, y, 1);
}

/// Records a chunk's backward pass (`pipeline`: [`backward_pipeline`] of `passes`).
pub(crate) fn record_backward(
    pass: &mut wgpu::ComputePass,
    pipeline: &wgpu::ComputePipeline,
    passes: &ChunkPasses,
    g: &wgpu::BindGroup,
) {
    pass.set_pipeline(pipeline);
    pass.set_bind_group(0, g, &[]);
    pass.dispatch_workgroups(passes.backward_workgroups, 1, 1);
}

/// A whole buffer as a binding.
pub(crate) fn whole(buffer: &wgpu::Buffer) -> wgpu::BufferBinding<'_> {
    wgpu::BufferBinding { buffer, offset: 0, size: None }
}

/// `len` elements of `per` bytes from byte `offset` of `buffer` (rounded up to whole words).
pub(crate) fn range(buffer: &wgpu::Buffer, offset: u64, len: usize, per: u64) -> wgpu::BufferBinding<'_> {
    wgpu::BufferBinding { buffer, offset, size: std::num::NonZeroU64::new((len as u64 * per).next_multiple_of(4)) }
}
