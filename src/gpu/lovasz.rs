//! The Lovasz losses on the GPU: errors → sort keys (`lovasz_*_keys.wgsl`, data checks read
//! back before sorting), the segmented radix sort, an inclusive scan of the sorted labels,
//! the loss per segment (`lovasz_reduce.wgsl` + `stats_final.wgsl`) and the backward pass
//! (`lovasz_grad.wgsl`, and `lovasz_jacobian.wgsl` through the softmax).
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
use crate::stats::LovaszRow;

/// Per-row scales of the backward pass, computed from the forward rows.
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
        out: ctx.storage("lovasz grad", bytes, U::COPY_SRC),
        staging: ctx.staging(bytes.max(rows_bytes).max(STATUS_BYTES)),
        n,
        segments,
        wg_per_seg: wg_per_seg as u32,
    })
}

fn lovasz_params(ctx: &GpuContext, pr: &Problem) -> Params {
    let threads = chunk::elementwise_workgroups(pr.n, ctx.max_workgroups) * chunk::WG_SIZE;
    Params {
        chunk_len: pr.n as u32,
        seg_len: (pr.n / pr.segments) as u32,
        n_seg: pr.segments as u32,
        wg_per_seg: pr.wg_per_seg,
        n_threads: threads,
        ..Params::default()
    }
}

/// Reads the status words after the keys pass: the first bad element, before sorting.
fn read_status(ctx: &GpuContext, pr: &Problem) -> Result<[Option<usize>; 2]> {
    let mut encoder = ctx.device.create_command_encoder(&Default::default());
    encoder.copy_buffer_to_buffer(&pr.status, 0, &pr.staging, 0, Some(STATUS_BYTES));
    ctx.queue.submit([encoder.finish()]);
    let s: [u32; 2] = bytemuck::pod_read_unaligned(&ctx.read(&pr.staging, STATUS_BYTES)?);
    Ok(s.map(|i| (i != u32::MAX).then_some(i as usize)))
}

/// Sorts the keys, scans the labels and reduces every segment's loss; returns the rows
/// and whether the sorted pairs are in the `b` buffers.
fn sort_and_reduce(ctx: &GpuContext, pr: &Problem, forward: bool) -> Result<(Vec<LovaszRow>, bool)> {
    let p = lovasz_params(ctx, pr);
    let slots = sort::sort_slots(ctx, pr.n, pr.segments) + sort::scan_slots(ctx, pr.n) + 2;
    let mut arena = UniformArena::new(ctx, slots);
    let mut encoder = ctx.device.create_command_encoder(&Default::default());
    let mut pass = ctx.compute_pass(&mut encoder, "lovasz sort");
    let in_b = sort::encode_sort(
        ctx,
        &mut pass,
        &mut arena,
        &pr.sort_scratch,
        (&pr.ka, &pr.va),
        (&pr.kb, &pr.vb),
        pr.n,
        pr.n / pr.segments,
        pr.segments,
        1,
    );
    let (keys, values) = if in_b { (&pr.kb, &pr.vb) } else { (&pr.ka, &pr.va) };
    sort::encode_scan(ctx, &mut pass, &mut arena, &pr.scan_scratch, 0, values, &pr.scan, pr.n, 1, true);
    drop(pass);
    if !forward {
        arena.upload(&ctx.queue);
        ctx.queue.submit([encoder.finish()]);
        return Ok((Vec::new(), in_b));
    }
    let l = &ctx.pipelines.lovasz;
    {
        let binding = arena.push(&p);
        let entries = [
            wgpu::BindGroupEntry { binding: 0, resource: wgpu::BindingResource::Buffer(binding) },
            wgpu::BindGroupEntry { binding: 1, resource: keys.as_entire_binding() },
            wgpu::BindGroupEntry { binding: 2, resource: values.as_entire_binding() },
            wgpu::BindGroupEntry { binding: 3, resource: pr.scan.as_entire_binding() },
            wgpu::BindGroupEntry { binding: 4, resource: pr.partials.as_entire_binding() },
        ];
        let bg = ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("lovasz reduce"),
            layout: &l.reduce_layout,
            entries: &entries,
        });
        let mut pass = ctx.compute_pass(&mut encoder, "lovasz reduce");
        pass.set_pipeline(&l.reduce);
        pass.set_bind_group(0, &bg, &[]);
        let (y, z) = chunk::fold(pr.segments);
        pass.dispatch_workgroups(pr.wg_per_seg, y, z);
    }
    let fin = arena.push(&p);
    let pl = &ctx.pipelines;
    let entries = [
        wgpu::BindGroupEntry { binding: 0, resource: wgpu::BindingResource::Buffer(fin) },
        wgpu::BindGroupEntry { binding: 1, resource: pr.partials.as_entire_binding() },
        wgpu::BindGroupEntry { binding: 2, resource: pr.rows.as_entire_binding() },
    ];
    let bg = ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("lovasz final"),
        layout: &pl.final_layout,
        entries: &entries,
    });
    {
        let mut pass = ctx.compute_pass(&mut encoder, "lovasz final");
        pass.set_pipeline(&pl.stats_final);
        pass.set_bind_group(0, &bg, &[]);
        let (x, y) = chunk::fold(pr.segments);
        pass.dispatch_workgroups(x, y, 1);
    }
    let rows_bytes = pr.segments as u64 * SUMS_BYTES;
    encoder.copy_buffer_to_buffer(&pr.rows, 0, &pr.staging, 0, Some(rows_bytes));
    arena.upload(&ctx.queue);
    ctx.queue.submit([encoder.finish()]);
    let sums: Vec<GpuSums> = bytemuck::pod_collect_to_vec(&ctx.read(&pr.staging, rows_bytes)?);
    let rows = sums
        .iter()
        .map(|s| LovaszRow { loss: s.f0[0] as f64, valid: s.n[0] as u64, positives: s.n[1] as u64 })
        .collect();
    Ok((rows, in_b))
}

/// Records lovasz_grad.wgsl over the sorted problem with per-segment `scales`.
fn encode_lovasz_grad(ctx: &GpuContext, pr: &Problem, in_b: bool, scales: &[f32]) -> wgpu::CommandEncoder {
    ctx.queue.write_buffer(&pr.scales, 0, bytemuck::cast_slice(scales));
    let (keys, values) = if in_b { (&pr.kb, &pr.vb) } else { (&pr.ka, &pr.va) };
    let mut arena = UniformArena::new(ctx, 1);
    let p = lovasz_params(ctx, pr);
    let mut encoder = ctx.device.create_command_encoder(&Default::default());
    let l = &ctx.pipelines.lovasz;
    sort::dispatch(
        ctx,
        &mut ctx.compute_pass(&mut encoder, "lovasz grad"),
        &l.grad,
        &l.grad_layout,
        arena.push(&p),
        &[keys, values, &pr.scan, &pr.scales, &pr.out],
        chunk::elementwise_workgroups(pr.n, ctx.max_workgroups),
    );
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
            ..lovasz_params(ctx, &pr)
        };
        let mut arena = UniformArena::new(ctx, 1);
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
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
        arena.upload(&ctx.queue);
        ctx.queue.submit([encoder.finish()]);
        let bad = read_status(ctx, &pr)?;
        if let Some(e) = batch.data_error(bad[0], bad[1]) {
            return Err(e);
        }
        let (rows, in_b) = sort_and_reduce(ctx, &pr, true)?;
        let Some(scales) = scales else { return Ok((rows, None)) };
        let s: Vec<f32> = scales(&rows).iter().map(|&v| v as f32).collect();
        let mut encoder = encode_lovasz_grad(ctx, &pr, in_b, &s);
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
        let chunks = chunk::class_chunks(images, hw, c, ctx.binding_elems).map_err(Error::InvalidRequest)?;
        // The input stays uploaded, chunk by chunk, for every class.
        let inputs: Vec<(Pooled, Pooled)> = chunks
            .iter()
            .map(|ch| {
                let px = (ch.n_images * ch.plane) as u64;
                let logits = ctx.storage("logits", px * c as u64 * 4, U::COPY_DST);
                let map = ctx.storage("class map", (px * 4).next_multiple_of(16), U::COPY_DST);
                super::upload::class_chunk(ctx, batch, ch, &logits, &map);
                (logits, map)
            })
            .collect();
        let chunk_params = |ch: &chunk::ClassChunk, class: usize| Params {
            n_threads: chunk::elementwise_workgroups(ch.n_images * ch.plane, ctx.max_workgroups) * chunk::WG_SIZE,
            seg_offset: (ch.first_image * hw + ch.pix0) as u32,
            plane: hw as u32,
            class_index: class as u32,
            ..ChunkPasses::softmax(&Params::for_classes(batch, 0.0), ch, c, ctx.limits()).forward
        };
        let encode_keys = |class: usize| {
            ctx.queue.write_buffer(&pr.status, 0, bytemuck::cast_slice(&STATUS_CLEAR));
            let mut arena = UniformArena::new(ctx, chunks.len());
            let mut encoder = ctx.device.create_command_encoder(&Default::default());
            let l = &ctx.pipelines.lovasz;
            let mut pass = ctx.compute_pass(&mut encoder, "lovasz softmax keys");
            for (ch, (logits, map)) in chunks.iter().zip(&inputs) {
                sort::dispatch(
                    ctx,
                    &mut pass,
                    &l.softmax_keys,
                    &l.keys_layout,
                    arena.push(&chunk_params(ch, class)),
                    &[logits, map, &pr.ka, &pr.va, &pr.status],
                    chunk::elementwise_workgroups(ch.n_images * ch.plane, ctx.max_workgroups),
                );
            }
            drop(pass);
            arena.upload(&ctx.queue);
            ctx.queue.submit([encoder.finish()]);
        };
        let mut rows = vec![LovaszRow::default(); segments * c];
        let mut checked = false;
        for class in (0..c).filter(|&k| wanted[k]) {
            encode_keys(class);
            if !checked {
                // Status indices are chunk-local; one chunk at a time would be needed to
                // map them, so on a bad input re-check chunk by chunk on the host.
                let bad = read_status(ctx, &pr)?;
                if bad.iter().any(Option::is_some) {
                    return Err(first_bad_pixel(batch));
                }
                checked = true;
            }
            let (class_rows, _) = sort_and_reduce(ctx, &pr, true)?;
            for (s, r) in class_rows.into_iter().enumerate() {
                rows[s * c + class] = r;
            }
        }
        let Some(scales) = scales else { return Ok((rows, None)) };
        let scales = scales(&rows);
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
            let s: Vec<f32> = (0..segments).map(|seg| scales[seg * c + class] as f32).collect();
            if s.iter().all(|&v| v == 0.0) {
                continue;
            }
            encode_keys(class);
            let (_, in_b) = sort_and_reduce(ctx, &pr, false)?;
            let mut encoder = encode_lovasz_grad(ctx, &pr, in_b, &s);
            for (ch, g) in chunks.iter().zip(&grads) {
                for li in 0..ch.n_images {
                    let src = (((ch.first_image + li) * hw + ch.pix0) * 4) as u64;
                    let dst = (((li * c + class) * ch.plane) * 4) as u64;
                    encoder.copy_buffer_to_buffer(&pr.out, src, g, dst, Some((ch.plane * 4) as u64));
                }
            }
            ctx.queue.submit([encoder.finish()]);
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
                &[logits, map, g],
                chunk::elementwise_workgroups(pixels, ctx.max_workgroups),
            );
            let bytes = (pixels * c * 4) as u64;
            let staging = ctx.staging(bytes);
            encoder.copy_buffer_to_buffer(g, 0, &staging, 0, Some(bytes));
            arena.upload(&ctx.queue);
            ctx.queue.submit([encoder.finish()]);
            let data: Vec<f32> = bytemuck::pod_collect_to_vec(&ctx.read(&staging, bytes)?);
            super::upload::place_class_chunk(&mut grad, &data, ch, c, hw);
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
