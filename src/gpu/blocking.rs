//! The blocking GPU path: upload a batch chunk by chunk (so a batch larger than GPU memory
//! works), record each chunk's passes with the recorder, submit, and read the rows (and the
//! gradient) back. Binary/multilabel and multiclass batches differ only in how a chunk is
//! uploaded, where its bad elements and its gradient lie ([`Source`]); the driver is one.
//! Every call runs inside wgpu error scopes, so a GPU error becomes an `Err`, never a panic.

use super::chunk::{self, ChunkPasses, ClassChunk};
use super::context::GpuContext;
use super::contract::{GpuCoef, GpuSums, Params, COEF_BYTES, STATUS_BYTES, STATUS_CLEAR, SUMS_BYTES, UNIFORM_COEFS};
use super::record::{self, whole, BackwardBuffers, CoefTable, ForwardBuffers};
use super::specialize;
use super::upload;
use crate::batch::{BinaryBatch, MulticlassBatch};
use crate::error::{Error, Result};
use crate::pixel::PixelParams;
use crate::stats::{Coefficients, Stats};

/// What a run computes.
pub(crate) enum Want<'a> {
    /// Statistics only.
    Forward,
    /// Statistics, then the gradient for the per-row coefficients of those statistics.
    ForwardBackward(&'a dyn Fn(&[Stats]) -> Vec<Coefficients>),
    /// The gradient for given per-row coefficients (no forward pass).
    Backward(&'a [Coefficients]),
}

/// Counts of what a call dispatched (used by tests to show one pass serves every loss).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DispatchCount {
    /// Passes of the fused forward kernel over the data (one per chunk).
    pub forward_passes: usize,
    /// Passes of the backward kernel over the data (one per chunk).
    pub backward_passes: usize,
}

/// Statistics rows, confusion matrix (multiclass) and, when asked, the gradient of a run.
pub(crate) type Run = (Vec<Stats>, Option<Vec<u64>>, Option<Vec<f32>>);

/// A batch as the blocking path streams it.
enum Source<'a> {
    Sigmoid(&'a BinaryBatch<'a>, Vec<chunk::Chunk>),
    Softmax(&'a MulticlassBatch<'a>, Vec<ClassChunk>),
}

/// One chunk: its passes, its first row among the batch's rows, and its sizes.
struct Streamed {
    passes: ChunkPasses,
    first_row: usize,
    elements: usize,
    target_bytes: u64,
}

impl Source<'_> {
    fn classes(&self) -> usize {
        match self {
            Source::Sigmoid(b, _) => b.channels,
            Source::Softmax(m, _) => m.classes,
        }
    }

    fn rows(&self) -> usize {
        match self {
            Source::Sigmoid(b, _) => b.segments(),
            Source::Softmax(m, _) => m.shape.n * m.classes,
        }
    }

    fn input_len(&self) -> usize {
        match self {
            Source::Sigmoid(b, _) => b.input.len(),
            Source::Softmax(m, _) => m.logits.len(),
        }
    }

    fn upload(&self, ctx: &GpuContext, k: usize, logits: &wgpu::Buffer, targets: &wgpu::Buffer) -> Result<()> {
        match self {
            Source::Sigmoid(batch, chunks) => {
                let range = chunks[k].start..chunks[k].start + chunks[k].len;
                ctx.write_input(logits, 0, bytemuck::cast_slice(&batch.input[range.clone()]))?;
                ctx.write_input(targets, 0, bytemuck::cast_slice(&batch.target[range]))
            }
            Source::Softmax(batch, chunks) => upload::class_chunk(ctx, batch, &chunks[k], logits, targets),
        }
    }

    /// The error for chunk-local indices of the first bad input and target.
    fn data_error(&self, k: usize, status: [u32; 2]) -> Option<Error> {
        let flagged = |i: u32| i != u32::MAX;
        match self {
            Source::Sigmoid(batch, chunks) => {
                let bad = status.map(|i| flagged(i).then(|| chunks[k].start + i as usize));
                batch.data_error(bad[0], bad[1])
            }
            Source::Softmax(batch, chunks) => {
                let (ch, hw) = (&chunks[k], batch.shape.pixels());
                let global = |local: u32| {
                    let (li, i) = (local as usize / ch.plane, local as usize % ch.plane);
                    (ch.first_image + li) * hw + ch.pix0 + i
                };
                let bad = status.map(|i| flagged(i).then(|| global(i)));
                batch.data_error(bad[0], bad[1])
            }
        }
    }

    fn place_grad(&self, k: usize, data: &[f32], grad: &mut [f32]) {
        match self {
            Source::Sigmoid(_, chunks) => grad[chunks[k].start..chunks[k].start + chunks[k].len].copy_from_slice(data),
            Source::Softmax(batch, chunks) => {
                upload::place_class_chunk(grad, data, &chunks[k], batch.classes, batch.shape.pixels())
            }
        }
    }

    /// Every chunk's passes and sizes.
    fn streamed(&self, ctx: &GpuContext, pp: &PixelParams) -> Vec<Streamed> {
        match self {
            Source::Sigmoid(batch, chunks) => {
                let seg_len = batch.shape.pixels();
                let base = Params::new(batch, pp);
                chunks
                    .iter()
                    .map(|ch| Streamed {
                        passes: ChunkPasses::sigmoid(&base, ch, seg_len, ctx.limits()),
                        first_row: ch.first_seg,
                        elements: ch.len,
                        target_bytes: ch.len as u64 * 4,
                    })
                    .collect()
            }
            Source::Softmax(batch, chunks) => {
                let base = Params::for_classes(batch, pp);
                chunks
                    .iter()
                    .map(|ch| Streamed {
                        passes: ChunkPasses::softmax(&base, ch, batch.classes, ctx.limits()),
                        first_row: ch.first_image * batch.classes,
                        elements: ch.n_images * ch.plane * batch.classes,
                        target_bytes: (ch.n_images * ch.plane * 4).next_multiple_of(16) as u64,
                    })
                    .collect()
            }
        }
    }
}

/// Per-segment statistics of a binary or multilabel `batch`; with `want`, also the gradient
/// for the per-segment coefficients.
pub(crate) fn run(
    ctx: &GpuContext,
    batch: &BinaryBatch,
    pp: &PixelParams,
    want: Want,
    count: &mut DispatchCount,
) -> Result<Run> {
    let seg_len = batch.shape.pixels();
    let chunks = chunk::chunks(batch.input.len(), seg_len, chunk::max_chunk_len(seg_len, ctx.binding_elems));
    ctx.scoped(|| stream(ctx, &Source::Sigmoid(batch, chunks), pp, want, count))
}

/// Per-(image, class) statistics and the confusion matrix of `batch`; with `want`, the
/// gradient for per-row coefficients.
pub(crate) fn run_classes(
    ctx: &GpuContext,
    batch: &MulticlassBatch,
    pp: &PixelParams,
    want: Want,
    count: &mut DispatchCount,
) -> Result<Run> {
    let pass = ctx.limits().class_pass(batch.classes);
    let chunks = chunk::class_chunks(batch.shape.n, batch.shape.pixels(), batch.classes, ctx.binding_elems, pass)
        .map_err(Error::InvalidRequest)?;
    ctx.scoped(|| stream(ctx, &Source::Softmax(batch, chunks), pp, want, count))
}

/// The driver: forward chunk by chunk (upload, record, submit, read back), then backward.
fn stream(ctx: &GpuContext, source: &Source, pp: &PixelParams, want: Want, count: &mut DispatchCount) -> Result<Run> {
    use wgpu::BufferUsages as U;
    let streamed = source.streamed(ctx, pp);
    let max = |f: &dyn Fn(&Streamed) -> u64| streamed.iter().map(f).max().unwrap_or(1).max(1);
    let max_elements = max(&|s| s.elements as u64);
    let max_rows = max(&|s| s.passes.rows as u64);
    let softmax = matches!(source, Source::Softmax(..));
    let conf_len = if softmax { source.classes() * source.classes() } else { 0 };
    let conf_bytes = conf_len as u64 * 4;
    let params = ctx.uniform();
    let reduce_params = ctx.uniform();
    let logits = ctx.input_buffer("logits", max_elements * 4);
    let targets = ctx.input_buffer("targets", max(&|s| s.target_bytes));
    let partials = ctx.storage("partials", max(&|s| s.passes.partial_rows()) * SUMS_BYTES, U::empty());
    let rows_buf = ctx.storage("rows", max_rows * SUMS_BYTES, U::COPY_SRC);
    let status = ctx.storage("status", STATUS_BYTES, U::COPY_DST | U::COPY_SRC);
    let confusion_buf = softmax.then(|| ctx.storage("confusion", conf_bytes, U::COPY_DST | U::COPY_SRC));
    let pixel_words = streamed.iter().map(|s| s.passes.pixel_words()).max().filter(|&w| w > 0);
    let pixels = pixel_words.map(|w| ctx.storage("pixels", w * 4, U::empty()));
    let staging = ctx.staging(max_rows * SUMS_BYTES + STATUS_BYTES + conf_bytes);
    let mut rows = vec![Stats::default(); source.rows()];
    let mut confusion = softmax.then(|| vec![0u64; conf_len]);
    let forward = !matches!(want, Want::Backward(_));
    for (k, s) in streamed.iter().enumerate().filter(|_| forward) {
        source.upload(ctx, k, &logits, &targets)?;
        ctx.queue.write_buffer(&params, 0, bytemuck::bytes_of(&s.passes.forward));
        ctx.queue.write_buffer(&reduce_params, 0, bytemuck::bytes_of(&s.passes.reduce));
        ctx.queue.write_buffer(&status, 0, bytemuck::cast_slice(&STATUS_CLEAR));
        let groups = record::forward_groups(
            ctx,
            &s.passes,
            ForwardBuffers {
                params: whole(&params),
                reduce_params: whole(&reduce_params),
                logits: whole(&logits),
                targets: whole(&targets),
                partials: whole(&partials),
                status: whole(&status),
                rows: whole(&rows_buf),
                confusion: confusion_buf.as_deref().map(whole),
                pixels: pixels.as_deref().map(whole),
            },
        );
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        if let Some(c) = &confusion_buf {
            encoder.clear_buffer(c, 0, None);
        }
        record::record_forward(
            &mut ctx.compute_pass(&mut encoder, "segloss forward"),
            &ctx.pipelines,
            &record::stage_pipeline(ctx, &s.passes),
            &s.passes,
            &groups,
        );
        let rows_bytes = s.passes.rows as u64 * SUMS_BYTES;
        encoder.copy_buffer_to_buffer(&rows_buf, 0, &staging, 0, Some(rows_bytes));
        encoder.copy_buffer_to_buffer(&status, 0, &staging, rows_bytes, Some(STATUS_BYTES));
        if let Some(c) = &confusion_buf {
            encoder.copy_buffer_to_buffer(c, 0, &staging, rows_bytes + STATUS_BYTES, Some(conf_bytes));
        }
        ctx.queue.submit([encoder.finish()]);
        let bytes = ctx.read(&staging, rows_bytes + STATUS_BYTES + conf_bytes)?;
        count.forward_passes += 1;
        let (row_bytes, rest) = bytes.split_at(rows_bytes as usize);
        let (status_bytes, conf) = rest.split_at(STATUS_BYTES as usize);
        if let Some(e) = source.data_error(k, bytemuck::pod_read_unaligned(status_bytes)) {
            return Err(e);
        }
        for (r, row) in bytemuck::pod_collect_to_vec::<u8, GpuSums>(row_bytes).iter().enumerate() {
            rows[s.first_row + r].merge(&Stats::from(row));
        }
        if let Some(total) = &mut confusion {
            for (t, n) in total.iter_mut().zip(bytemuck::pod_collect_to_vec::<u8, u32>(conf)) {
                *t += n as u64;
            }
        }
    }
    // The sums the pass left out are NaN before anything reads them (`LogSums`).
    pp.log_sums.blank(&mut rows);
    let per_row = match want {
        Want::Forward => return Ok((rows, confusion, None)),
        Want::ForwardBackward(f) => f(&rows),
        Want::Backward(given) => given.to_vec(),
    };
    // Multiclass chunks whose rows fit read their coefficients from a uniform table.
    let uniform_coefs = streamed.iter().all(|s| s.passes.uniform_coefs());
    let coef_buf = if uniform_coefs {
        ctx.uniform_table("coefficient table", UNIFORM_COEFS as u64 * COEF_BYTES)
    } else {
        ctx.storage("coefficients", max_rows * COEF_BYTES, U::COPY_DST)
    };
    // Read straight from the gradient buffer where the host can map it (`direct_map`).
    let grad_buf = ctx.storage("grad", max_elements * 4, if ctx.direct_map { U::MAP_READ } else { U::COPY_SRC });
    let grad_staging = (!ctx.direct_map).then(|| ctx.staging(max_elements * 4));
    let mut grad = vec![0f32; source.input_len()];
    for (k, s) in streamed.iter().enumerate() {
        if streamed.len() > 1 || !forward {
            source.upload(ctx, k, &logits, &targets)?;
        }
        let coefs: Vec<GpuCoef> = per_row[s.first_row..s.first_row + s.passes.rows].iter().map(GpuCoef::from).collect();
        ctx.queue.write_buffer(&coef_buf, 0, bytemuck::cast_slice(&coefs));
        // The coefficients uploaded are this chunk's alone: its rows start at 0.
        let p = Params { first_seg: 0, ..s.passes.backward };
        ctx.queue.write_buffer(&params, 0, bytemuck::bytes_of(&p));
        let group = record::backward_group(
            ctx,
            BackwardBuffers {
                params: whole(&params),
                logits: whole(&logits),
                targets: whole(&targets),
                coefs: if uniform_coefs {
                    CoefTable::Uniform(record::range(&coef_buf, 0, UNIFORM_COEFS as usize, COEF_BYTES))
                } else {
                    CoefTable::Storage(whole(&coef_buf))
                },
                grad: whole(&grad_buf),
            },
        );
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        record::record_backward(
            &mut ctx.compute_pass(&mut encoder, "segloss backward"),
            &record::backward_pipeline(ctx, &s.passes, specialize::terms_of(&coefs), uniform_coefs),
            &s.passes,
            &group,
        );
        let bytes = s.elements as u64 * 4;
        if let Some(staging) = &grad_staging {
            encoder.copy_buffer_to_buffer(&grad_buf, 0, staging, 0, Some(bytes));
        }
        ctx.queue.submit([encoder.finish()]);
        let from = grad_staging.as_deref().unwrap_or(&grad_buf);
        ctx.read_f32_with(from, bytes, |data| source.place_grad(k, data, &mut grad))?;
        count.backward_passes += 1;
    }
    Ok((rows, confusion, Some(grad)))
}
