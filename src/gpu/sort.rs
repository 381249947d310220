//! GPU primitives: a stable, segmented key/value LSD radix sort of u32 keys (per pass: a
//! digit histogram, its exclusive scan, a stable scatter) and an exact u32 prefix scan
//! (reduce-then-scan, recursive over levels), in two strategies ([`SortStrategy`], chosen
//! from the adapter in `GpuContext`): `Blocks` (`radix_count` / `radix_scatter` /
//! `scan_reduce` / `scan_apply`: workgroups of 256 cooperate on 1024-element blocks, 4-bit
//! digits) and `Lanes` (`radix_lane_*` / `scan_lane_*`: each invocation works through a
//! contiguous run serially, 8-bit digits, no barrier). Both are exact and stable, so their
//! results are identical. Portable: no subgroups, no workgroup ever waits on another. Both
//! record into a command encoder; their uniforms come from a [`UniformArena`].

use super::context::GpuContext;
use super::options::SortStrategy;
use super::pool::Pooled;
use bytemuck::{Pod, Zeroable};

/// Elements per sort/scan workgroup of the `Blocks` strategy (defined once, in `contract.rs`).
pub const BLOCK: usize = super::contract::BLOCK as usize;

/// Elements per lane of the `Lanes` strategy (a run a CPU thread works through serially).
const LANE_ITEMS: usize = 2048;

/// How one sort or scan of `n` elements is split under a strategy.
#[derive(Debug, Clone, Copy)]
struct Split {
    /// Blocks, or lanes: `SortParams::n_blocks`.
    parts: usize,
    /// Workgroups to dispatch.
    workgroups: u32,
    /// Digit width of the sort's passes.
    radix_bits: u32,
}

impl Split {
    fn of(strategy: SortStrategy, n: usize) -> Split {
        if strategy == SortStrategy::Lanes {
            let parts = n.div_ceil(LANE_ITEMS).max(1);
            Split { parts, workgroups: parts.div_ceil(super::contract::LANE_WG as usize) as u32, radix_bits: 8 }
        } else {
            let parts = n.div_ceil(BLOCK);
            Split { parts, workgroups: parts as u32, radix_bits: 4 }
        }
    }

    /// Histogram entries of one sort pass: radix × parts.
    fn hist_len(self) -> usize {
        self.parts << self.radix_bits
    }
}

/// Mirror of WGSL `SortParams` (sort_common.wgsl).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, Pod, Zeroable)]
pub(crate) struct SortParams {
    pub n: u32,
    pub n_blocks: u32,
    pub shift: u32,
    pub mode: u32,
    pub seg_len: u32,
    pub mask: u32,
    pub inclusive: u32,
    pub value_shift: u32,
    pub keep_max: u32,
    pub drop_unkept: u32,
    pub pad: [u32; 2],
}

/// Uniform slots (256-byte aligned) of one command encoder's passes, written in one go
/// before submission: every dispatch keeps its own parameters.
pub(crate) struct UniformArena {
    pub buffer: wgpu::Buffer,
    data: Vec<u8>,
}

const SLOT: usize = 256;

impl UniformArena {
    pub fn new(ctx: &GpuContext, slots: usize) -> UniformArena {
        let buffer = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("uniform arena"),
            size: (slots.max(1) * SLOT) as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        UniformArena { buffer, data: Vec::with_capacity(slots * SLOT) }
    }

    /// Stores `value` in the next slot; returns its binding.
    pub fn push<T: Pod>(&mut self, value: &T) -> wgpu::BufferBinding<'_> {
        let offset = self.data.len();
        let bytes = bytemuck::bytes_of(value);
        self.data.extend_from_slice(bytes);
        self.data.resize(offset + SLOT, 0);
        assert!(self.data.len() as u64 <= self.buffer.size(), "uniform arena sized too small");
        wgpu::BufferBinding {
            buffer: &self.buffer,
            offset: offset as u64,
            size: wgpu::BufferSize::new(bytes.len() as u64),
        }
    }

    /// Writes every slot (call once, before submitting the encoder).
    pub fn upload(&self, queue: &wgpu::Queue) {
        if !self.data.is_empty() {
            queue.write_buffer(&self.buffer, 0, &self.data);
        }
    }
}

/// Uniform slots a sort of `n` elements in `segments` segments records.
pub(crate) fn sort_slots(ctx: &GpuContext, n: usize, segments: usize) -> usize {
    let split = Split::of(ctx.sort_strategy, n);
    sort_passes(segments, split.radix_bits).len() * (2 + scan_slots(ctx, split.hist_len()))
}

/// Uniform slots a scan of `n` elements records.
pub(crate) fn scan_slots(ctx: &GpuContext, n: usize) -> usize {
    let parts = Split::of(ctx.sort_strategy, n).parts;
    if parts <= 1 {
        1
    } else {
        2 + scan_slots(ctx, parts)
    }
}

/// (mode, shift) of every pass: the key's digits, then the digits of the segment id.
fn sort_passes(segments: usize, radix_bits: u32) -> Vec<(u32, u32)> {
    let mut passes: Vec<(u32, u32)> = (0..32 / radix_bits).map(|d| (0, radix_bits * d)).collect();
    let bits = usize::BITS - (segments.max(1) - 1).leading_zeros();
    passes.extend((0..bits.div_ceil(radix_bits)).map(|d| (1, radix_bits * d)));
    passes
}

/// Buffers a sort needs besides its two key/value ping-pong pairs.
pub(crate) struct SortScratch<'a> {
    hist: Pooled<'a>,
    offsets: Pooled<'a>,
    scan: ScanScratch<'a>,
}

/// Per-level buffers of a scan.
pub(crate) struct ScanScratch<'a> {
    levels: Vec<(Pooled<'a>, Pooled<'a>)>,
    zero: Pooled<'a>,
}

pub(crate) fn scan_scratch(ctx: &GpuContext, n: usize) -> ScanScratch<'_> {
    let mut levels = Vec::new();
    let mut parts = Split::of(ctx.sort_strategy, n).parts;
    while parts > 1 {
        let size = (parts * 4) as u64;
        levels.push((
            ctx.storage("scan sums", size, wgpu::BufferUsages::empty()),
            ctx.storage("scan carries", size, wgpu::BufferUsages::empty()),
        ));
        parts = Split::of(ctx.sort_strategy, parts).parts;
    }
    ScanScratch { levels, zero: ctx.storage("scan zero", 16, wgpu::BufferUsages::empty()) }
}

pub(crate) fn sort_scratch(ctx: &GpuContext, n: usize) -> SortScratch<'_> {
    let hist_len = Split::of(ctx.sort_strategy, n).hist_len();
    SortScratch {
        hist: ctx.storage("radix hist", (hist_len * 4) as u64, wgpu::BufferUsages::empty()),
        offsets: ctx.storage("radix offsets", (hist_len * 4) as u64, wgpu::BufferUsages::empty()),
        scan: scan_scratch(ctx, hist_len),
    }
}

pub(super) fn dispatch(
    ctx: &GpuContext,
    pass: &mut wgpu::ComputePass,
    pipeline: &wgpu::ComputePipeline,
    layout: &wgpu::BindGroupLayout,
    params: wgpu::BufferBinding,
    buffers: &[&wgpu::Buffer],
    workgroups: u32,
) {
    let mut entries = vec![wgpu::BindGroupEntry { binding: 0, resource: wgpu::BindingResource::Buffer(params) }];
    entries.extend(
        buffers
            .iter()
            .enumerate()
            .map(|(i, b)| wgpu::BindGroupEntry { binding: i as u32 + 1, resource: b.as_entire_binding() }),
    );
    let bg = ctx.device.create_bind_group(&wgpu::BindGroupDescriptor { label: None, layout, entries: &entries });
    pass.set_pipeline(pipeline);
    pass.set_bind_group(0, &bg, &[]);
    pass.dispatch_workgroups(workgroups, 1, 1);
}

/// Records a prefix scan of `n` elements of `input & mask` into `output` (distinct buffers).
#[allow(clippy::too_many_arguments)]
pub(crate) fn encode_scan(
    ctx: &GpuContext,
    pass: &mut wgpu::ComputePass,
    arena: &mut UniformArena,
    scratch: &ScanScratch,
    level: usize,
    input: &wgpu::Buffer,
    output: &wgpu::Buffer,
    n: usize,
    mask: u32,
    inclusive: bool,
) {
    let s = ctx.sort_kernels();
    let split = Split::of(ctx.sort_strategy, n);
    let p = SortParams {
        n: n as u32,
        n_blocks: split.parts as u32,
        mask,
        inclusive: inclusive as u32,
        ..Default::default()
    };
    let carries = if split.parts > 1 {
        let (sums, carries) = &scratch.levels[level];
        dispatch(ctx, pass, &s.scan_reduce, &s.scan_reduce_layout, arena.push(&p), &[input, sums], split.workgroups);
        encode_scan(ctx, pass, arena, scratch, level + 1, sums, carries, split.parts, u32::MAX, false);
        carries
    } else {
        &scratch.zero
    };
    let apply = [input, carries, output];
    dispatch(ctx, pass, &s.scan_apply, &s.scan_apply_layout, arena.push(&p), &apply, split.workgroups);
}

/// Records one stable counting pass (histogram, its exclusive scan, scatter) of the `n`
/// pairs in `src` into `dst`, by the digit (`mode`, `shift`) of sort_common.wgsl.
#[allow(clippy::too_many_arguments)]
fn encode_pass(
    ctx: &GpuContext,
    pass: &mut wgpu::ComputePass,
    arena: &mut UniformArena,
    scratch: &SortScratch,
    src: (&wgpu::Buffer, &wgpu::Buffer),
    dst: (&wgpu::Buffer, &wgpu::Buffer),
    n: usize,
    p: SortParams,
) {
    let s = ctx.sort_kernels();
    let split = Split::of(ctx.sort_strategy, n);
    let p = SortParams { n: n as u32, n_blocks: split.parts as u32, mask: u32::MAX, inclusive: 0, ..p };
    let count = [src.0, src.1, &scratch.hist];
    dispatch(ctx, pass, &s.count, &s.count_layout, arena.push(&p), &count, split.workgroups);
    let hist_len = split.hist_len();
    encode_scan(ctx, pass, arena, &scratch.scan, 0, &scratch.hist, &scratch.offsets, hist_len, u32::MAX, false);
    let scatter = [src.0, src.1, &scratch.offsets, dst.0, dst.1];
    dispatch(ctx, pass, &s.scatter, &s.scatter_layout, arena.push(&p), &scatter, split.workgroups);
}

/// Uniform slots of one [`encode_sort_kept`].
pub(crate) fn sort_kept_slots(ctx: &GpuContext, n: usize, kept: usize, segments: usize) -> usize {
    2 + scan_slots(ctx, Split::of(ctx.sort_strategy, n).hist_len()) + sort_slots(ctx, kept.max(1), segments)
}

/// The parameters of every pass of a sort by (segment, key): the key's digits, then the
/// segment id's.
fn key_passes(ctx: &GpuContext, segments: usize, seg_len: usize, value_shift: u32) -> Vec<SortParams> {
    let radix_bits = Split::of(ctx.sort_strategy, 1).radix_bits;
    let seg_len = seg_len.min(u32::MAX as usize) as u32;
    let pass = |(mode, shift)| SortParams { shift, mode, seg_len, value_shift, ..Default::default() };
    sort_passes(segments, radix_bits).into_iter().map(pass).collect()
}

/// Records counting passes (parameters, elements) ping-ponging from `a`; returns true when
/// the result ends in `b`.
fn encode_passes(
    ctx: &GpuContext,
    pass: &mut wgpu::ComputePass,
    arena: &mut UniformArena,
    scratch: &SortScratch,
    (a, b): ((&wgpu::Buffer, &wgpu::Buffer), (&wgpu::Buffer, &wgpu::Buffer)),
    steps: impl IntoIterator<Item = (SortParams, usize)>,
) -> bool {
    let mut in_b = false;
    for (p, n) in steps {
        let (src, dst) = if in_b { (b, a) } else { (a, b) };
        encode_pass(ctx, pass, arena, scratch, src, dst, n, p);
        in_b = !in_b;
    }
    in_b
}

/// Records a stable segmented sort (as [`encode_sort`]) of only those of the `n` pairs in
/// `a` whose key is ≤ `keep_max` — `kept` of them, counted beforehand — into the first
/// `kept` places of `a` or `b` (returns true for `b`). `Blocks`: a stable partition (one
/// pass whose digit is [key > keep_max], mode 2 of sort_common.wgsl), then the sort of the
/// kept prefix. `Lanes`: the first pass of the sort leaves the others out as it goes.
#[allow(clippy::too_many_arguments)]
pub(crate) fn encode_sort_kept(
    ctx: &GpuContext,
    pass: &mut wgpu::ComputePass,
    arena: &mut UniformArena,
    scratch: &SortScratch,
    a: (&wgpu::Buffer, &wgpu::Buffer),
    b: (&wgpu::Buffer, &wgpu::Buffer),
    (n, kept, keep_max): (usize, usize, u32),
    (seg_len, segments, value_shift): (usize, usize, u32),
) -> bool {
    let mut passes = key_passes(ctx, segments, seg_len, value_shift);
    if kept == n {
        return encode_passes(ctx, pass, arena, scratch, (a, b), passes.into_iter().map(|p| (p, n)));
    }
    if ctx.sort_strategy == SortStrategy::Lanes {
        // The first key digit over all n, keeping `kept`; the other passes over those.
        passes[0] = SortParams { keep_max, drop_unkept: 1, ..passes[0] };
        let steps = passes.into_iter().enumerate().map(|(i, p)| (p, if i == 0 { n } else { kept }));
        return encode_passes(ctx, pass, arena, scratch, (a, b), steps);
    }
    let partition = SortParams { mode: 2, keep_max, seg_len: 1, ..Default::default() };
    let steps = std::iter::once((partition, n)).chain(passes.into_iter().map(|p| (p, kept)));
    encode_passes(ctx, pass, arena, scratch, (a, b), steps)
}

/// Records a stable sort of `n` (key, value) pairs by (segment, key), segment =
/// (value >> value_shift) / seg_len, over `segments` segments. Sorts from `a` using
/// `b` as the other half of the ping-pong; returns true when the result ends in `b`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn encode_sort(
    ctx: &GpuContext,
    pass: &mut wgpu::ComputePass,
    arena: &mut UniformArena,
    scratch: &SortScratch,
    a: (&wgpu::Buffer, &wgpu::Buffer),
    b: (&wgpu::Buffer, &wgpu::Buffer),
    n: usize,
    seg_len: usize,
    segments: usize,
    value_shift: u32,
) -> bool {
    let passes = key_passes(ctx, segments, seg_len, value_shift);
    encode_passes(ctx, pass, arena, scratch, (a, b), passes.into_iter().map(|p| (p, n)))
}

/// Largest number of elements one sort or scan handles (one binding, one dispatch row).
pub(crate) fn max_elements(binding_elems: usize) -> usize {
    binding_elems.min(65535 * BLOCK)
}

fn check_len(ctx: &GpuContext, n: usize, what: &str) -> crate::Result<()> {
    let max = max_elements(ctx.binding_elems);
    if n > max {
        return Err(crate::Error::InvalidRequest(format!(
            "{what} of {n} elements: at most {max} fit one storage binding on this device"
        )));
    }
    Ok(())
}

/// Sorts (key, value) pairs stably by (value / segment_len, key) on the GPU.
pub(crate) fn sort_pairs(
    ctx: &GpuContext,
    keys: &[u32],
    values: &[u32],
    segment_len: usize,
) -> crate::Result<(Vec<u32>, Vec<u32>)> {
    use wgpu::BufferUsages as U;
    let n = keys.len();
    if values.len() != n {
        return Err(crate::Error::InvalidRequest(format!("{n} keys but {} values", values.len())));
    }
    if let Some(i) = values.iter().position(|&v| v == u32::MAX) {
        return Err(crate::Error::InvalidRequest(format!("value {i} is 0xffffffff, which marks padding")));
    }
    if n == 0 {
        return Ok((Vec::new(), Vec::new()));
    }
    check_len(ctx, n, "a sort")?;
    let seg_len = segment_len.clamp(1, u32::MAX as usize);
    let segments = values.iter().map(|&v| v as usize / seg_len).max().unwrap_or(0) + 1;
    ctx.scoped(|| {
        let bytes = (n * 4) as u64;
        let ka = ctx.storage("keys a", bytes, U::COPY_DST | U::COPY_SRC);
        let va = ctx.storage("values a", bytes, U::COPY_DST | U::COPY_SRC);
        let kb = ctx.storage("keys b", bytes, U::COPY_SRC);
        let vb = ctx.storage("values b", bytes, U::COPY_SRC);
        ctx.queue.write_buffer(&ka, 0, bytemuck::cast_slice(keys));
        ctx.queue.write_buffer(&va, 0, bytemuck::cast_slice(values));
        let scratch = sort_scratch(ctx, n);
        let mut arena = UniformArena::new(ctx, sort_slots(ctx, n, segments));
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        let in_b = {
            let mut pass = ctx.compute_pass(&mut encoder, "radix sort");
            encode_sort(ctx, &mut pass, &mut arena, &scratch, (&ka, &va), (&kb, &vb), n, seg_len, segments, 0)
        };
        let (k, v) = if in_b { (&kb, &vb) } else { (&ka, &va) };
        let staging = ctx.staging(2 * bytes);
        encoder.copy_buffer_to_buffer(k, 0, &staging, 0, Some(bytes));
        encoder.copy_buffer_to_buffer(v, 0, &staging, bytes, Some(bytes));
        arena.upload(&ctx.queue);
        ctx.queue.submit([encoder.finish()]);
        let data: Vec<u32> = bytemuck::pod_collect_to_vec(&ctx.read(&staging, 2 * bytes)?);
        let (k, v) = data.split_at(n);
        Ok((k.to_vec(), v.to_vec()))
    })
}

/// Exact u32 prefix sums (wrapping) on the GPU.
pub(crate) fn prefix_scan(ctx: &GpuContext, data: &[u32], inclusive: bool) -> crate::Result<Vec<u32>> {
    use wgpu::BufferUsages as U;
    let n = data.len();
    if n == 0 {
        return Ok(Vec::new());
    }
    check_len(ctx, n, "a scan")?;
    ctx.scoped(|| {
        let bytes = (n * 4) as u64;
        let input = ctx.storage("scan in", bytes, U::COPY_DST);
        let output = ctx.storage("scan out", bytes, U::COPY_SRC);
        ctx.queue.write_buffer(&input, 0, bytemuck::cast_slice(data));
        let scratch = scan_scratch(ctx, n);
        let mut arena = UniformArena::new(ctx, scan_slots(ctx, n));
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        {
            let mut pass = ctx.compute_pass(&mut encoder, "prefix scan");
            encode_scan(ctx, &mut pass, &mut arena, &scratch, 0, &input, &output, n, u32::MAX, inclusive);
        }
        let staging = ctx.staging(bytes);
        encoder.copy_buffer_to_buffer(&output, 0, &staging, 0, Some(bytes));
        arena.upload(&ctx.queue);
        ctx.queue.submit([encoder.finish()]);
        Ok(bytemuck::pod_collect_to_vec(&ctx.read(&staging, bytes)?))
    })
}
