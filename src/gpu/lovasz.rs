//! The Lovasz losses on the GPU: errors → sort keys (`lovasz_*_keys.wgsl`), per-segment
//! counts (`lovasz_count.wgsl`: valid pixels, labels, pixels with error > 0), read back with
//! the data checks before sorting; then only the pixels with error > 0 are sorted (a stable
//! partition, then the segmented radix sort: the others add nothing to the loss or the
//! gradient and sort after them, so leaving them out changes no rank), an inclusive scan of
//! the sorted labels, the loss per segment (`lovasz_reduce.wgsl` + `stats_final.wgsl`) and
//! the backward pass (`lovasz_grad.wgsl`, and `lovasz_jacobian.wgsl` through the softmax).
//!
//! Scratch is O(pixels): keys and values twice (ping-pong), the label scan and the sort's
//! histograms; the softmax runs class by class, so no N×C×(anything) buffer is made besides
//! the input and the gradient themselves.

use super::chunk;
use super::chunk::ChunkPasses;
use super::context::GpuContext;
use super::contract::{GpuSums, Params, FLAG_IGNORE, STATUS_BYTES, STATUS_CLEAR, SUMS_BYTES};
use super::pool::Pooled;
use super::sort::{self, UniformArena};
use crate::batch::{BinaryBatch, MulticlassBatch};
use crate::error::{Error, Result};
use crate::pixel::PixelParams;
use crate::stats::LovaszRow;

/// Per-row scales of the backward pass, computed from the forward rows. They must depend
/// on the rows' counts only (`valid`, `positives`), not on `loss`: the Lovasz softmax takes
/// them before sorting, from rows whose loss is 0, and checks that the final rows agree.
pub(crate) type LovaszScales<'a> = Option<&'a dyn Fn(&[LovaszRow]) -> Vec<f64>>;

/// The buffers of one sorted Lovasz problem set over `n` elements.
struct Problem<'a> {
    ka: Pooled<'a>,
    va: Pooled<'a>,
    kb: Pooled<'a>,
    vb: Pooled<'a>,
    scan: Pooled<'a>,
    sort_scratch: sort::SortScratch<'a>,
    scan_scratch: sort::ScanScratch<'a>,
    status: Pooled<'a>,
    partials: Pooled<'a>,
    rows: Pooled<'a>,
    scales: Pooled<'a>,
    /// Per segment: (start, len) of its kept pixels after sorting, labels, valid pixels.
    table: Pooled<'a>,
    out: Pooled<'a>,
    staging: Pooled<'a>,
    n: usize,
    segments: usize,
    wg_per_seg: u32,
}

fn problem(ctx: &GpuContext, n: usize, segments: usize) -> Result<Problem<'_>> {
    use wgpu::BufferUsages as U;
    if n > sort::max_elements(ctx.binding_elems) {
        return Err(Error::InvalidRequest(format!(
            "Lovasz over {n} pixels: the sort holds at most {} in one storage binding on this device",
            sort::max_elements(ctx.binding_elems)
        )));
    }
    let seg_len = n / segments;
    let budget = (ctx.max_workgroups as usize / segments).min(chunk::max_rows(ctx.binding_elems) / segments);
    let wg_per_seg =
        seg_len.div_ceil(chunk::WG_SIZE as usize * chunk::MIN_ITEMS_PER_INVOCATION).clamp(1, budget.max(1));
    let bytes = (n * 4) as u64;
    let rows_bytes = segments as u64 * SUMS_BYTES;
    Ok(Problem {
        ka: ctx.storage("lovasz keys a", bytes, U::empty()),
        va: ctx.storage("lovasz values a", bytes, U::empty()),
        kb: ctx.storage("lovasz keys b", bytes, U::empty()),
        vb: ctx.storage("lovasz values b", bytes, U::empty()),
        scan: ctx.storage("lovasz label scan", bytes, U::empty()),
        sort_scratch: sort::sort_scratch(ctx, n),
        scan_scratch: sort::scan_scratch(ctx, n),
        status: ctx.storage("status", STATUS_BYTES, U::COPY_DST | U::COPY_SRC),
        partials: ctx.storage("lovasz partials", segments as u64 * wg_per_seg as u64 * SUMS_BYTES, U::empty()),
        rows: ctx.storage("lovasz rows", rows_bytes, U::COPY_SRC),
        scales: ctx.storage("lovasz scales", (segments * 4) as u64, U::COPY_DST),
        table: ctx.storage("lovasz segments", (segments * 16) as u64, U::COPY_DST),
        out: ctx.storage("lovasz grad", bytes, U::COPY_SRC | U::COPY_DST),
        staging: ctx.staging(bytes.max(rows_bytes + STATUS_BYTES)),
        n,
        segments,
        wg_per_seg: wg_per_seg as u32,
    })
}

fn lovasz_params(ctx: &GpuContext, pr: &Problem, len: usize) -> Params {
    let threads = chunk::elementwise_workgroups(len, ctx.max_workgroups) * chunk::WG_SIZE;
    Params {
        chunk_len: len as u32,
        seg_len: (pr.n / pr.segments) as u32,
        n_seg: pr.segments as u32,
        wg_per_seg: pr.wg_per_seg,
        n_threads: threads,
        ..Params::default()
    }
}

/// Per segment, before sorting: valid pixels, labels, kept pixels (error > 0).
#[derive(Debug, Clone, Copy)]
struct SegmentCounts {
    valid: u32,
    labels: u32,
    kept: u32,
}

/// Where the sorted kept pixels are.
#[derive(Debug, Clone, Copy)]
struct Sorted {
    /// In the `b` buffers (else `a`).
    in_b: bool,
    /// How many: the pixels with error > 0.
    kept: usize,
}

/// Records a segment-per-row reduction (`lovasz_count` or `lovasz_reduce`) and
/// `stats_final` into `pr.rows`.
fn encode_rows(
    ctx: &GpuContext,
    encoder: &mut wgpu::CommandEncoder,
    arena: &mut UniformArena,
    pr: &Problem,
    (pipeline, layout): (&wgpu::ComputePipeline, &wgpu::BindGroupLayout),
    buffers: &[&wgpu::Buffer],
) {
    let p = lovasz_params(ctx, pr, pr.n);
    {
        let mut pass = ctx.compute_pass(encoder, "lovasz rows");
        let mut entries =
            vec![wgpu::BindGroupEntry { binding: 0, resource: wgpu::BindingResource::Buffer(arena.push(&p)) }];
        entries.extend(
            buffers
                .iter()
                .chain([&&*pr.partials])
                .enumerate()
                .map(|(i, b)| wgpu::BindGroupEntry { binding: i as u32 + 1, resource: b.as_entire_binding() }),
        );
        let bg = ctx.device.create_bind_group(&wgpu::BindGroupDescriptor { label: None, layout, entries: &entries });
        pass.set_pipeline(pipeline);
        pass.set_bind_group(0, &bg, &[]);
        let (y, z) = chunk::fold(pr.segments);
        pass.dispatch_workgroups(pr.wg_per_seg, y, z);
    }
    let pl = &ctx.pipelines;
    let entries = [
        wgpu::BindGroupEntry { binding: 0, resource: wgpu::BindingResource::Buffer(arena.push(&p)) },
        wgpu::BindGroupEntry { binding: 1, resource: pr.partials.as_entire_binding() },
        wgpu::BindGroupEntry { binding: 2, resource: pr.rows.as_entire_binding() },
    ];
    let bg = ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("lovasz final"),
        layout: &pl.final_layout,
        entries: &entries,
    });
    let mut pass = ctx.compute_pass(encoder, "lovasz final");
    pass.set_pipeline(&pl.stats_final);
    pass.set_bind_group(0, &bg, &[]);
    let (x, y) = pl.final_grid(pr.segments);
    pass.dispatch_workgroups(x, y, 1);
}

/// Appends the per-segment counts of the keys in `pr.ka`/`pr.va` to `encoder` (where the
/// keys pass was recorded), submits, and reads them back with the status words (the first
/// bad element of each check).
fn count_and_check(
    ctx: &GpuContext,
    pr: &Problem,
    mut encoder: wgpu::CommandEncoder,
    mut arena: UniformArena,
) -> Result<(Vec<SegmentCounts>, [Option<usize>; 2])> {
    let l = &ctx.pipelines.lovasz;
    encode_rows(ctx, &mut encoder, &mut arena, pr, (&l.count, &l.count_layout), &[&pr.ka, &pr.va]);
    let rows_bytes = pr.segments as u64 * SUMS_BYTES;
    encoder.copy_buffer_to_buffer(&pr.rows, 0, &pr.staging, 0, Some(rows_bytes));
    encoder.copy_buffer_to_buffer(&pr.status, 0, &pr.staging, rows_bytes, Some(STATUS_BYTES));
    arena.upload(&ctx.queue);
    ctx.queue.submit([encoder.finish()]);
    let data = ctx.read(&pr.staging, rows_bytes + STATUS_BYTES)?;
    let (rows, status) = data.split_at(rows_bytes as usize);
    let sums: Vec<GpuSums> = bytemuck::pod_collect_to_vec(rows);
    let counts = sums.iter().map(|s| SegmentCounts { valid: s.n[0], labels: s.n[1], kept: s.n[2] }).collect();
    let status: [u32; 2] = bytemuck::pod_read_unaligned(status);
    Ok((counts, status.map(|i| (i != u32::MAX).then_some(i as usize))))
}

/// The keys pass's encoder and uniform arena (one slot for the keys, two for the counts).
fn keys_encoder(ctx: &GpuContext, keys_slots: usize) -> (wgpu::CommandEncoder, UniformArena) {
    (ctx.device.create_command_encoder(&Default::default()), UniformArena::new(ctx, keys_slots + 2))
}

/// Sorts the kept pixels (error > 0) of every segment, scans their labels and, with
/// `forward`, reduces every segment's loss (rows: loss, and the counts' valid and labels).
fn sort_and_reduce(
    ctx: &GpuContext,
    pr: &Problem,
    counts: &[SegmentCounts],
    forward: bool,
) -> Result<(Vec<LovaszRow>, Sorted)> {
    let kept: usize = counts.iter().map(|c| c.kept as usize).sum();
    let mut start = 0u32;
    let table: Vec<[u32; 4]> = counts
        .iter()
        .map(|c| {
            let row = [start, c.kept, c.labels, c.valid];
            start += c.kept;
            row
        })
        .collect();
    ctx.queue.write_buffer(&pr.table, 0, bytemuck::cast_slice(&table));
    let slots = sort::sort_kept_slots(ctx, pr.n, kept, pr.segments) + sort::scan_slots(ctx, kept.max(1)) + 2;
    let mut arena = UniformArena::new(ctx, slots);
    let mut encoder = ctx.device.create_command_encoder(&Default::default());
    let (a, b) = ((&*pr.ka, &*pr.va), (&*pr.kb, &*pr.vb));
    let mut sorted = Sorted { in_b: false, kept };
    {
        let mut pass = ctx.compute_pass(&mut encoder, "lovasz sort");
        if kept > 0 {
            let keep = super::contract::LOVASZ_KEEP_MAX;
            let (sizes, segs) = ((pr.n, kept, keep), (pr.n / pr.segments, pr.segments, 1));
            sorted.in_b = sort::encode_sort_kept(ctx, &mut pass, &mut arena, &pr.sort_scratch, a, b, sizes, segs);
            let values = if sorted.in_b { b.1 } else { a.1 };
            sort::encode_scan(ctx, &mut pass, &mut arena, &pr.scan_scratch, 0, values, &pr.scan, kept, 1, true);
        }
    }
    if !forward {
        arena.upload(&ctx.queue);
        ctx.queue.submit([encoder.finish()]);
        return Ok((Vec::new(), sorted));
    }
    let (keys, values) = if sorted.in_b { b } else { a };
    let l = &ctx.pipelines.lovasz;
    encode_rows(ctx, &mut encoder, &mut arena, pr, (&l.reduce, &l.reduce_layout), &[keys, values, &pr.scan, &pr.table]);
    let rows_bytes = pr.segments as u64 * SUMS_BYTES;
    encoder.copy_buffer_to_buffer(&pr.rows, 0, &pr.staging, 0, Some(rows_bytes));
    arena.upload(&ctx.queue);
    ctx.queue.submit([encoder.finish()]);
    let sums: Vec<GpuSums> = bytemuck::pod_collect_to_vec(&ctx.read(&pr.staging, rows_bytes)?);
    let rows = sums
        .iter()
        .zip(counts)
        .map(|(s, c)| LovaszRow { loss: s.f0[0] as f64, valid: c.valid as u64, positives: c.labels as u64 })
        .collect();
    Ok((rows, sorted))
}

/// Records lovasz_grad.wgsl over the sorted kept pixels with per-segment `scales` (the
/// others' gradient is 0: `out` is cleared first).
fn encode_lovasz_grad(ctx: &GpuContext, pr: &Problem, sorted: Sorted, scales: &[f32]) -> wgpu::CommandEncoder {
    ctx.queue.write_buffer(&pr.scales, 0, bytemuck::cast_slice(scales));
    let (keys, values) = if sorted.in_b { (&pr.kb, &pr.vb) } else { (&pr.ka, &pr.va) };
    let mut arena = UniformArena::new(ctx, 1);
    let p = lovasz_params(ctx, pr, sorted.kept);
    let mut encoder = ctx.device.create_command_encoder(&Default::default());
    encoder.clear_buffer(&pr.out, 0, None);
    if sorted.kept > 0 {
        let l = &ctx.pipelines.lovasz;
        sort::dispatch(
            ctx,
            &mut ctx.compute_pass(&mut encoder, "lovasz grad"),
            &l.grad,
            &l.grad_layout,
            arena.push(&p),
            &[keys, values, &pr.scan, &pr.table, &pr.scales, &pr.out],
            chunk::elementwise_workgroups(sorted.kept, ctx.max_workgroups),
        );
    }
    arena.upload(&ctx.queue);
    encoder
}

/// Lovasz hinge: rows per segment (images, or the batch) and, with `scales`, dL/dlogits.
pub(crate) fn lovasz_hinge(
    ctx: &GpuContext,
    batch: &BinaryBatch,
    per_image: bool,
    scales: LovaszScales,
) -> Result<(Vec<LovaszRow>, Option<Vec<f32>>)> {
    ctx.scoped(|| {
        use wgpu::BufferUsages as U;
        let n = batch.input.len();
        let segments = if per_image { batch.shape.n } else { 1 };
        let pr = problem(ctx, n, segments)?;
        let input = ctx.storage("input", (n * 4) as u64, U::COPY_DST);
        let target = ctx.storage("target", (n * 4) as u64, U::COPY_DST);
        ctx.queue.write_buffer(&input, 0, bytemuck::cast_slice(batch.input));
        ctx.queue.write_buffer(&target, 0, bytemuck::cast_slice(batch.target));
        ctx.queue.write_buffer(&pr.status, 0, bytemuck::cast_slice(&STATUS_CLEAR));
        let p = Params {
            flags: if batch.ignore.is_some() { FLAG_IGNORE } else { 0 },
            ignore_value: batch.ignore.unwrap_or(0.0),
            ..lovasz_params(ctx, &pr, n)
        };
        let (mut encoder, mut arena) = keys_encoder(ctx, 1);
        let l = &ctx.pipelines.lovasz;
        sort::dispatch(
            ctx,
            &mut ctx.compute_pass(&mut encoder, "lovasz hinge keys"),
            &l.hinge_keys,
            &l.keys_layout,
            arena.push(&p),
            &[&input, &target, &pr.ka, &pr.va, &pr.status],
            chunk::elementwise_workgroups(n, ctx.max_workgroups),
        );
        let (counts, bad) = count_and_check(ctx, &pr, encoder, arena)?;
        if let Some(e) = batch.data_error(bad[0], bad[1]) {
            return Err(e);
        }
        let (rows, sorted) = sort_and_reduce(ctx, &pr, &counts, true)?;
        let Some(scales) = scales else { return Ok((rows, None)) };
        let s: Vec<f32> = scales(&rows).iter().map(|&v| v as f32).collect();
        let mut encoder = encode_lovasz_grad(ctx, &pr, sorted, &s);
        encoder.copy_buffer_to_buffer(&pr.out, 0, &pr.staging, 0, Some((n * 4) as u64));
        ctx.queue.submit([encoder.finish()]);
        let grad = bytemuck::pod_collect_to_vec(&ctx.read(&pr.staging, (n * 4) as u64)?);
        Ok((rows, Some(grad)))
    })
}

/// Lovasz softmax: rows per (segment, class) for the `wanted` classes and, with `scales`,
/// dL/dlogits through the softmax. Class by class: keys, sort, scan, reduce.
pub(crate) fn lovasz_softmax(
    ctx: &GpuContext,
    batch: &MulticlassBatch,
    per_image: bool,
    wanted: &[bool],
    scales: LovaszScales,
) -> Result<(Vec<LovaszRow>, Option<Vec<f32>>)> {
    ctx.scoped(|| {
        use wgpu::BufferUsages as U;
        let (c, hw, images) = (batch.classes, batch.shape.pixels(), batch.shape.n);
        let n = images * hw;
        let segments = if per_image { images } else { 1 };
        let pr = problem(ctx, n, segments)?;
        // Chunks cut as for the fused multiclass pass (the Lovasz kernels take its uniform).
        let fused = chunk::Limits { class_planes: false, ..ctx.limits() };
        let chunks = chunk::class_chunks(images, hw, c, ctx.binding_elems, fused.class_pass(c))
            .map_err(Error::InvalidRequest)?;
        // The input stays uploaded, chunk by chunk, for every class.
        let inputs: Vec<(Pooled, Pooled)> = chunks
            .iter()
            .map(|ch| {
                let px = (ch.n_images * ch.plane) as u64;
                let logits = ctx.input_buffer("logits", px * c as u64 * 4);
                let map = ctx.input_buffer("class map", (px * 4).next_multiple_of(16));
                super::upload::class_chunk(ctx, batch, ch, &logits, &map)?;
                Ok((logits, map))
            })
            .collect::<Result<_>>()?;
        // The Lovasz kernels read no per-pixel loss parameter.
        let lovasz_pixels = PixelParams { focal_gamma: 0.0, ..PixelParams::default() };
        let chunk_params = |ch: &chunk::ClassChunk, class: usize| Params {
            n_threads: chunk::elementwise_workgroups(ch.n_images * ch.plane, ctx.max_workgroups) * chunk::WG_SIZE,
            seg_offset: (ch.first_image * hw + ch.pix0) as u32,
            plane: hw as u32,
            class_index: class as u32,
            ..ChunkPasses::softmax(&Params::for_classes(batch, &lovasz_pixels), ch, c, fused).forward
        };
        // Records a per-pixel kernel over every chunk: bindings 1–2 the chunk's logits and
        // class map, then `rest`.
        let per_chunk = |pass: &mut wgpu::ComputePass,
                         arena: &mut UniformArena,
                         (pipeline, layout): (&wgpu::ComputePipeline, &wgpu::BindGroupLayout),
                         class: usize,
                         rest: &[&wgpu::Buffer]| {
            for (ch, (logits, map)) in chunks.iter().zip(&inputs) {
                let buffers: Vec<&wgpu::Buffer> = [&**logits, &**map].into_iter().chain(rest.iter().copied()).collect();
                let workgroups = chunk::elementwise_workgroups(ch.n_images * ch.plane, ctx.max_workgroups);
                sort::dispatch(ctx, pass, pipeline, layout, arena.push(&chunk_params(ch, class)), &buffers, workgroups);
            }
        };
        // Each pixel's log-sum-exp, once, with the data checks (read back before sorting).
        let lse = ctx.storage("lovasz lse", (n * 4) as u64, U::empty());
        {
            ctx.queue.write_buffer(&pr.status, 0, bytemuck::cast_slice(&STATUS_CLEAR));
            let mut arena = UniformArena::new(ctx, chunks.len());
            let mut encoder = ctx.device.create_command_encoder(&Default::default());
            let l = &ctx.pipelines.lovasz;
            let mut pass = ctx.compute_pass(&mut encoder, "lovasz softmax lse");
            per_chunk(&mut pass, &mut arena, (&l.lse, &l.lse_layout), 0, &[&lse, &pr.status]);
            drop(pass);
            encoder.copy_buffer_to_buffer(&pr.status, 0, &pr.staging, 0, Some(STATUS_BYTES));
            arena.upload(&ctx.queue);
            ctx.queue.submit([encoder.finish()]);
            let status: [u32; 2] = bytemuck::pod_read_unaligned(&ctx.read(&pr.staging, STATUS_BYTES)?);
            // Status indices are chunk-local; one chunk at a time would be needed to map
            // them, so on a bad input re-check chunk by chunk on the host.
            if status.iter().any(|&i| i != u32::MAX) {
                return Err(first_bad_pixel(batch));
            }
        }
        // One class's keys, then its per-segment counts.
        let keys_and_counts = |class: usize| {
            let (mut encoder, mut arena) = keys_encoder(ctx, chunks.len());
            let l = &ctx.pipelines.lovasz;
            let mut pass = ctx.compute_pass(&mut encoder, "lovasz softmax keys");
            let kernel = (&l.softmax_keys, &l.softmax_keys_layout);
            per_chunk(&mut pass, &mut arena, kernel, class, &[&pr.ka, &pr.va, &lse]);
            drop(pass);
            count_and_check(ctx, &pr, encoder, arena).map(|(counts, _)| counts)
        };
        let mut rows = vec![LovaszRow::default(); segments * c];
        let Some(scales) = scales else {
            for class in (0..c).filter(|&k| wanted[k]) {
                let counts = keys_and_counts(class)?;
                let (class_rows, _) = sort_and_reduce(ctx, &pr, &counts, true)?;
                for (s, r) in class_rows.into_iter().enumerate() {
                    rows[s * c + class] = r;
                }
            }
            return Ok((rows, None));
        };
        // The scales depend on the rows' counts only (valid pixels, labels: which classes are
        // present), so they are taken from the class map's counts (on the host, where the map
        // is) before any sort, and every class is sorted once for both its loss and its
        // gradient. The GPU's counts must agree: checked below.
        let seg_len = n / segments;
        let mut valid = vec![0u64; segments];
        for f in 0..n {
            let k = batch.target.get(f);
            if batch.ignore_index == Some(k) {
                continue;
            }
            valid[f / seg_len] += 1;
            if let Some(row) = rows.get_mut(f / seg_len * c + k as usize).filter(|_| (k as usize) < c) {
                row.positives += 1;
            }
        }
        for (i, row) in rows.iter_mut().enumerate() {
            match wanted[i % c] {
                true => row.valid = valid[i / c],
                false => row.positives = 0,
            }
        }
        let early = scales(&rows);
        // dL/dp per class into per-chunk gradient buffers shaped like the logits chunks.
        let grads: Vec<Pooled> = chunks
            .iter()
            .map(|ch| ctx.storage("grad", (ch.n_images * ch.plane * c * 4) as u64, U::COPY_DST | U::COPY_SRC))
            .collect();
        // Classes whose scales are all 0 are skipped: their part must read 0 (the buffers
        // are pooled, so they hold the previous call's data).
        let mut clear = ctx.device.create_command_encoder(&Default::default());
        for g in &grads {
            clear.clear_buffer(g, 0, None);
        }
        ctx.queue.submit([clear.finish()]);
        for class in 0..c {
            let s: Vec<f32> = (0..segments).map(|seg| early[seg * c + class] as f32).collect();
            let needs_grad = s.iter().any(|&v| v != 0.0);
            if !wanted[class] && !needs_grad {
                continue;
            }
            let class_counts = keys_and_counts(class)?;
            let (class_rows, sorted) = sort_and_reduce(ctx, &pr, &class_counts, true)?;
            for (seg, r) in class_rows.into_iter().enumerate() {
                rows[seg * c + class] = r;
            }
            if !needs_grad {
                continue;
            }
            let mut encoder = encode_lovasz_grad(ctx, &pr, sorted, &s);
            for (ch, g) in chunks.iter().zip(&grads) {
                for li in 0..ch.n_images {
                    let src = (((ch.first_image + li) * hw + ch.pix0) * 4) as u64;
                    let dst = (((li * c + class) * ch.plane) * 4) as u64;
                    encoder.copy_buffer_to_buffer(&pr.out, src, g, dst, Some((ch.plane * 4) as u64));
                }
            }
            ctx.queue.submit([encoder.finish()]);
        }
        if scales(&rows) != early {
            return Err(Error::Gpu {
                during: "Lovasz softmax backward",
                detail: "the scales from the GPU's rows differ from those of the class map's counts".into(),
            });
        }
        let mut grad = vec![0f32; batch.logits.len()];
        for ((ch, (logits, map)), g) in chunks.iter().zip(&inputs).zip(&grads) {
            let mut arena = UniformArena::new(ctx, 1);
            let mut encoder = ctx.device.create_command_encoder(&Default::default());
            let l = &ctx.pipelines.lovasz;
            let pixels = ch.n_images * ch.plane;
            sort::dispatch(
                ctx,
                &mut ctx.compute_pass(&mut encoder, "lovasz jacobian"),
                &l.jacobian,
                &l.jacobian_layout,
                arena.push(&chunk_params(ch, 0)),
                &[logits, map, g, &lse],
                chunk::elementwise_workgroups(pixels, ctx.max_workgroups),
            );
            let bytes = (pixels * c * 4) as u64;
            let staging = ctx.staging(bytes);
            encoder.copy_buffer_to_buffer(g, 0, &staging, 0, Some(bytes));
            arena.upload(&ctx.queue);
            ctx.queue.submit([encoder.finish()]);
            ctx.read_f32_with(&staging, bytes, |data| super::upload::place_class_chunk(&mut grad, data, ch, c, hw))?;
        }
        Ok((rows, Some(grad)))
    })
}

/// The error of the first bad pixel of a multiclass batch (host scan, run only after the
/// GPU found one).
fn first_bad_pixel(batch: &MulticlassBatch) -> Error {
    let (c, hw) = (batch.classes, batch.shape.pixels());
    let mut bad_logit = None;
    let mut bad_class = None;
    for f in 0..batch.shape.len() {
        let (img, i) = (f / hw, f % hw);
        if bad_logit.is_none() && (0..c).any(|k| !batch.logits[(img * c + k) * hw + i].is_finite()) {
            bad_logit = Some(f);
        }
        let k = batch.target.get(f);
        if bad_class.is_none() && batch.ignore_index != Some(k) && k as usize >= c {
            bad_class = Some(f);
        }
    }
    batch.data_error(bad_logit, bad_class).unwrap_or_else(|| Error::Gpu {
        during: "Lovasz data check",
        detail: "a bad pixel was flagged but not found".into(),
    })
}
