//! Prepared plans: a loss (values and, on request, its gradient) recorded into the caller's
//! `wgpu::CommandEncoder`, reading and writing the caller's buffers, with no readback.
//!
//! A [`Plan`] fixes the mode (binary or multilabel), the shape, the input formats (f32 or
//! f16 logits, f32 or u8 targets) and the terms. Its pipelines, bind-group layouts, uniforms
//! and scratch buffers are made once, in [`Engine::plan`]; [`Plan::encode`] then records the
//! fused forward pass (chunk by chunk when the inputs exceed one storage binding), the
//! finalize kernel (`finalize.wgsl`: loss values and backward coefficients from the sums, on
//! the GPU, in f32) and the elementwise backward pass. It never maps, polls or submits.
//!
//! Caller buffers ([`PlanIo`]) and the usages they need:
//! - logits: `STORAGE`, at least [`PlanDesc::logits_bytes`] from its offset;
//! - targets: `STORAGE`, at least [`PlanDesc::targets_bytes`];
//! - gradient (optional): `STORAGE`, at least [`PlanDesc::grad_bytes`] (f32, the logits' layout);
//!   in a buffer other than the logits' and the targets' (one dispatch reads those, writes it);
//! - values: `COPY_DST`, [`PlanDesc::values_bytes`]: f32 `[total, term 0, term 1, …]`.
//!
//! Offsets of the storage buffers must be multiples of the device's
//! `min_storage_buffer_offset_alignment` (256 on most adapters); the values offset a multiple
//! of 4. Bad data (non-finite logits, targets outside [0, 1] and not the ignore value) cannot
//! become an `Err` without a readback: the plan writes NaN values and a zero gradient.
//! [`Plan::run`] is the blocking form of the same commands (pooled upload and staging
//! buffers; bad data is an `Err` naming the element).
//!
//! [`Engine::forward`] and [`Engine::value_and_grad`] read the sums back and finalize on the
//! host in f64 (with metrics); a plan finalizes on the GPU in f32, so the two agree to f32
//! rounding, and `encode` agrees bit for bit with `run`.

mod desc;
mod terms;

pub(crate) use terms::finalize_source;

#[cfg(test)]
mod backward_terms_tests;

pub use desc::{BufferAt, LogitData, LogitFormat, PlanDesc, PlanIo, PlanOutput, TargetData, TargetFormat};

use crate::aggregate;
use crate::batch::{BinaryBatch, ClassMap};
use crate::error::{Error, Result};
use crate::finalize::{ChunkRef, TermSpec};
use crate::gpu::chunk::{self, Chunk, ChunkPasses};
use crate::gpu::contract::{Params, COEF_BYTES, FLAG_INPUT_F16, FLAG_TARGET_U8, SUMS_BYTES};
use crate::gpu::record::{self, whole, BackwardBuffers, CoefTable, ForwardBuffers};
use crate::gpu::GpuContext;
use crate::input::Mode;
use crate::pixel::PixelParams;
use std::sync::Arc;

/// A prepared loss computation; see the module documentation.
pub struct Plan {
    ctx: Arc<GpuContext>,
    desc: PlanDesc,
    /// The chunks and what each needs (uniforms, row bases; multiclass: the class pass).
    per_chunk: ChunkSetup,
    partials: wgpu::Buffer,
    chunk_rows: wgpu::Buffer,
    status: wgpu::Buffer,
    status_clear: wgpu::Buffer,
    finalize_bind: wgpu::BindGroup,
    coefs: wgpu::Buffer,
    out: wgpu::Buffer,
    /// The bind groups of the caller buffers last encoded with.
    bind_cache: std::sync::Mutex<Option<IoBindGroups>>,
}

/// Which caller buffers (and offsets) a set of bind groups reads and writes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct IoKey {
    logits: (wgpu::Buffer, u64),
    targets: (wgpu::Buffer, u64),
    grad: Option<(wgpu::Buffer, u64)>,
}

impl IoKey {
    fn of(io: &PlanIo) -> IoKey {
        let at = |b: BufferAt| (b.buffer.clone(), b.offset);
        IoKey { logits: at(io.logits), targets: at(io.targets), grad: io.grad.map(at) }
    }
}

struct IoBindGroups {
    key: IoKey,
    forward: Vec<record::ForwardGroups>,
    backward: Vec<wgpu::BindGroup>,
}

impl std::fmt::Debug for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plan").field("desc", &self.desc).field("chunks", &self.per_chunk.chunks.len()).finish()
    }
}

/// Buffers a plan creates once.
struct Maker<'a> {
    ctx: &'a GpuContext,
}

impl Maker<'_> {
    fn buffer(&self, label: &str, size: u64, usage: wgpu::BufferUsages) -> wgpu::Buffer {
        self.ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: size.max(16),
            usage,
            mapped_at_creation: false,
        })
    }

    fn init(&self, label: &str, data: &[u8], usage: wgpu::BufferUsages) -> wgpu::Buffer {
        let b = self.buffer(label, (data.len() as u64).next_multiple_of(4), usage | wgpu::BufferUsages::COPY_DST);
        self.ctx.queue.write_buffer(&b, 0, data);
        b
    }

    fn uniform(&self, label: &str, p: &Params) -> wgpu::Buffer {
        self.init(label, bytemuck::bytes_of(p), wgpu::BufferUsages::UNIFORM)
    }
}

/// The backward terms of a plan with a gradient: those its losses can make non-zero.
fn backward_terms(desc: &PlanDesc) -> Option<u32> {
    desc.gradient.then(|| desc.terms.iter().fold(0, |acc, t| acc | t.loss.backward_terms()))
}

/// The per-chunk part of a plan: per chunk, its passes (the schedule the blocking path also
/// records), their uniforms, and the first row of its rows in `chunk_rows` (a multiple of 4:
/// 256-byte offsets); scratch sizes; multiclass: the confusion-matrix scratch the class pass
/// writes.
struct ChunkSetup {
    chunks: Vec<Chunk>,
    passes: Vec<ChunkPasses>,
    /// Per chunk, the specialised first stage and (plans with a gradient only) backward
    /// kernel (specialize.rs; the backward terms are those the plan's losses can make
    /// non-zero, `SumLoss::backward_terms`: the coefficients are the GPU's, unknown when
    /// recording).
    stage_pipelines: Vec<record::StagePipelines>,
    backward_pipelines: Vec<wgpu::ComputePipeline>,
    forward_params: Vec<wgpu::Buffer>,
    reduce_params: Vec<wgpu::Buffer>,
    grad_params: Vec<wgpu::Buffer>,
    row_bases: Vec<u64>,
    refs: Vec<ChunkRef>,
    rows_total: u64,
    partial_rows: u64,
    confusion: Option<wgpu::Buffer>,
    /// `Stage::Planes`: the pixel-summary scratch.
    pixels: Option<wgpu::Buffer>,
}

impl ChunkSetup {
    /// The setup of `chunks` with their passes: uniforms and pipelines made once (the
    /// backward kernels, with the `backward` terms, only for a plan with a gradient), rows
    /// laid out.
    fn new(
        make: &Maker,
        chunks: Vec<Chunk>,
        passes: Vec<ChunkPasses>,
        confusion: Option<wgpu::Buffer>,
        backward: Option<u32>,
    ) -> ChunkSetup {
        let terms = backward.unwrap_or(0);
        let backward = passes.iter().filter(|_| backward.is_some());
        let mut s = ChunkSetup {
            stage_pipelines: passes.iter().map(|p| record::stage_pipeline(make.ctx, p)).collect(),
            // Plans' coefficients are written by finalize.wgsl: a storage array.
            backward_pipelines: backward.map(|p| record::backward_pipeline(make.ctx, p, terms, false)).collect(),
            forward_params: passes.iter().map(|p| make.uniform("plan params", &p.forward)).collect(),
            reduce_params: passes.iter().map(|p| make.uniform("plan reduce params", &p.reduce)).collect(),
            grad_params: passes.iter().map(|p| make.uniform("plan grad params", &p.backward)).collect(),
            row_bases: Vec::new(),
            refs: Vec::new(),
            rows_total: 0,
            partial_rows: passes.iter().map(ChunkPasses::partial_rows).max().unwrap_or(1).max(1),
            pixels: passes
                .iter()
                .map(ChunkPasses::pixel_words)
                .max()
                .filter(|&w| w > 0)
                .map(|w| make.buffer("plan pixel summary", w * 4, wgpu::BufferUsages::STORAGE)),
            chunks,
            passes,
            confusion,
        };
        for (chunk, passes) in s.chunks.iter().zip(&s.passes) {
            let first_row = passes.backward.first_seg;
            s.refs.push(ChunkRef { first_row, n_rows: passes.rows as u32, base: s.rows_total as u32, _pad: 0 });
            s.row_bases.push(s.rows_total);
            s.rows_total += (chunk.n_seg as u64).next_multiple_of(4);
        }
        s
    }
}

impl Plan {
    /// Prepares `desc` on `ctx`: checks it and makes every buffer and constant bind group.
    pub(crate) fn new(ctx: Arc<GpuContext>, desc: PlanDesc) -> Result<Plan> {
        use wgpu::BufferUsages as U;
        let pp = PixelParams::from_terms(&desc.terms)?;
        let layout = desc.layout();
        aggregate::check(&desc.terms, &layout)?;
        let specs: Vec<TermSpec> = desc
            .terms
            .iter()
            .enumerate()
            .map(|(i, t)| terms::term_spec(i, t, desc.channels, desc.mode))
            .collect::<Result<_>>()?;
        desc.check_formats()?;
        let make = Maker { ctx: &ctx };
        let setup = if desc.mode == Mode::Multiclass {
            Plan::softmax_chunks(&ctx, &desc, &pp, &make)?
        } else {
            Plan::sigmoid_chunks(&ctx, &desc, &pp, &make)
        };
        let n_rows = desc.shape.n * desc.channels;
        let fin = Params {
            n_seg: n_rows as u32,
            classes: desc.channels as u32,
            seg_len: desc.shape.n as u32,
            chunk_len: setup.chunks.len() as u32,
            wg_per_seg: specs.len() as u32,
            ..Params::default()
        };
        let partials = make.buffer("plan partials", setup.partial_rows * SUMS_BYTES, U::STORAGE);
        let chunk_rows = make.buffer("plan chunk rows", setup.rows_total * SUMS_BYTES, U::STORAGE);
        let status = make.buffer("plan status", 8, U::STORAGE | U::COPY_DST);
        let status_clear = make.init("plan status clear", bytemuck::cast_slice(&[u32::MAX; 2]), U::COPY_SRC);
        // Merged rows, pooled class rows, one record per segment (finalize.wgsl).
        let rows_len = (n_rows + desc.channels + desc.shape.n) as u64 * SUMS_BYTES;
        if rows_len > ctx.binding_elems as u64 * 4 {
            return Err(Error::InvalidRequest(format!(
                "{n_rows} (image, class) rows need {rows_len} bytes of finalize scratch, more than one storage \
                 binding holds: use the blocking API"
            )));
        }
        let rows = make.buffer("plan rows", rows_len, U::STORAGE);
        let coefs = make.buffer("plan coefficients", n_rows as u64 * COEF_BYTES, U::STORAGE);
        let out = make.buffer("plan values", desc.values_bytes(), U::STORAGE | U::COPY_SRC);
        let fin_params = make.uniform("plan finalize params", &fin);
        let refs = make.init("plan chunks", bytemuck::cast_slice(&setup.refs), U::STORAGE);
        let specs = make.init("plan terms", bytemuck::cast_slice(&specs), U::STORAGE);
        let weights = terms::class_weights(&desc.terms, desc.channels);
        let weights = make.init("plan class weights", bytemuck::cast_slice(&weights), U::STORAGE);
        let finalize_bind = ctx.bind_group(
            &ctx.pipelines.finalize_layout,
            &[&fin_params, &chunk_rows, &refs, &specs, &weights, &status, &rows, &coefs, &out],
        );
        Ok(Plan {
            ctx: ctx.clone(),
            desc,
            per_chunk: setup,
            partials,
            chunk_rows,
            status,
            status_clear,
            finalize_bind,
            coefs,
            out,
            bind_cache: Default::default(),
        })
    }

    /// Binary/multilabel: chunks of at most one binding, starts at multiples of 256 elements.
    fn sigmoid_chunks(ctx: &GpuContext, desc: &PlanDesc, pp: &PixelParams, make: &Maker) -> ChunkSetup {
        let seg_len = desc.shape.pixels();
        let max_len = (chunk::max_chunk_len(seg_len, ctx.binding_elems) / 256 * 256).max(256);
        let chunks = chunk::chunks(desc.elements(), seg_len, max_len);
        let mut base = Params::for_pixels(desc.input_kind, desc.ignore, seg_len, pp);
        if desc.logits == LogitFormat::F16 {
            base.flags |= FLAG_INPUT_F16;
        }
        if desc.targets == TargetFormat::U8 {
            base.flags |= FLAG_TARGET_U8;
        }
        let passes = chunks.iter().map(|c| ChunkPasses::sigmoid(&base, c, seg_len, ctx.limits())).collect();
        ChunkSetup::new(make, chunks, passes, None, backward_terms(desc))
    }

    /// Multiclass: the whole batch in one pass (its logits within one binding).
    fn softmax_chunks(ctx: &GpuContext, desc: &PlanDesc, pp: &PixelParams, make: &Maker) -> Result<ChunkSetup> {
        let (n, c, hw) = (desc.shape.n, desc.channels, desc.shape.pixels());
        let class_chunks = chunk::class_chunks(n, hw, c, ctx.binding_elems, ctx.limits().class_pass(c))
            .map_err(Error::InvalidRequest)?;
        let [class_chunk] = class_chunks[..] else {
            return Err(Error::InvalidRequest(format!(
                "a multiclass plan needs the batch's logits ({} bytes) within one storage binding ({} bytes): \
                 split the batch, or use the blocking API, which streams",
                desc.grad_bytes(),
                ctx.binding_elems * 4
            )));
        };
        let format = match desc.targets {
            TargetFormat::Classes16 => 1,
            TargetFormat::Classes8 => 2,
            _ => 0,
        };
        let mut base = Params::class_base(c, desc.ignore.map(|v| v as u32), format, pp);
        if desc.logits == LogitFormat::F16 {
            base.flags |= FLAG_INPUT_F16;
        }
        let passes = ChunkPasses::softmax(&base, &class_chunk, c, ctx.limits());
        let whole_batch = Chunk { start: 0, len: n * c * hw, first_seg: 0, n_seg: passes.rows, seg_offset: 0 };
        let confusion = make.buffer(
            "plan confusion",
            (c * c * 4) as u64,
            wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
        );
        Ok(ChunkSetup::new(make, vec![whole_batch], vec![passes], Some(confusion), backward_terms(desc)))
    }

    /// What the plan computes.
    pub fn desc(&self) -> &PlanDesc {
        &self.desc
    }

    /// Chunks the inputs are split into (1 unless they exceed one storage binding).
    pub fn chunks(&self) -> usize {
        self.per_chunk.chunks.len()
    }

    fn check_io(&self, io: &PlanIo) -> Result<()> {
        let align = self.ctx.device.limits().min_storage_buffer_offset_alignment as u64;
        let d = &self.desc;
        let storage = [
            ("logits", Some(io.logits), d.logits_bytes()),
            ("targets", Some(io.targets), d.targets_bytes()),
            ("grad", io.grad, d.grad_bytes()),
        ];
        for (name, at, need) in storage {
            let Some(at) = at else { continue };
            if at.offset % align != 0 {
                return Err(Error::InvalidRequest(format!(
                    "{name} buffer: offset {} is not a multiple of the storage offset alignment {align}",
                    at.offset
                )));
            }
            check_room(name, at, need, wgpu::BufferUsages::STORAGE)?;
        }
        if io.values.offset % 4 != 0 {
            return Err(Error::InvalidRequest(format!(
                "values buffer: offset {} is not a multiple of 4",
                io.values.offset
            )));
        }
        check_room("values", io.values, d.values_bytes(), wgpu::BufferUsages::COPY_DST)?;
        if d.gradient && io.grad.is_none() {
            return Err(Error::InvalidRequest("the plan computes a gradient: PlanIo::grad is required".into()));
        }
        // The backward pass reads logits and targets and writes the gradient in one dispatch:
        // wgpu forbids one buffer bound both read-only and read-write there.
        if let Some(g) = io.grad {
            for (name, at) in [("logits", io.logits), ("targets", io.targets)] {
                if at.buffer == g.buffer {
                    return Err(Error::InvalidRequest(format!(
                        "grad buffer: the same buffer as the {name} (one dispatch reads one and writes the other; \
                         use separate buffers)"
                    )));
                }
            }
        }
        Ok(())
    }

    /// The bind groups that read or write the caller's buffers, per chunk: forward (first
    /// stage and rows) and backward.
    fn io_bind_groups(&self, io: &PlanIo) -> IoBindGroups {
        let ctx = &self.ctx;
        let d = &self.desc;
        let setup = &self.per_chunk;
        let lb = if d.logits == LogitFormat::F16 { 2 } else { 4 };
        let tb = d.targets.bytes();
        let mut out = IoBindGroups { key: IoKey::of(io), forward: Vec::new(), backward: Vec::new() };
        for (k, chunk) in setup.chunks.iter().enumerate() {
            let rows = record::range(&self.chunk_rows, setup.row_bases[k] * SUMS_BYTES, chunk.n_seg, SUMS_BYTES);
            // Multiclass plans have one chunk of whole images: the class map starts at 0.
            let targets = match setup.confusion {
                Some(_) => slice(io.targets, 0, d.target_elements(), tb),
                None => slice(io.targets, chunk.start, chunk.len, tb),
            };
            let logits = slice(io.logits, chunk.start, chunk.len, lb);
            let forward = ForwardBuffers {
                params: whole(&setup.forward_params[k]),
                reduce_params: whole(&setup.reduce_params[k]),
                logits: logits.clone(),
                targets: targets.clone(),
                partials: whole(&self.partials),
                status: whole(&self.status),
                rows,
                confusion: setup.confusion.as_ref().map(whole),
                pixels: setup.pixels.as_ref().map(whole),
            };
            out.forward.push(record::forward_groups(ctx, &setup.passes[k], forward));
            if let (true, Some(grad)) = (d.gradient, io.grad) {
                let backward = BackwardBuffers {
                    params: whole(&setup.grad_params[k]),
                    logits,
                    targets,
                    coefs: CoefTable::Storage(whole(&self.coefs)),
                    grad: slice(grad, chunk.start, chunk.len, 4),
                };
                out.backward.push(record::backward_group(ctx, backward));
            }
        }
        out
    }

    /// Records the plan's passes into `encoder`: forward, finalize, backward (with a
    /// gradient), and a copy of the values into `io.values`. Checks the caller's buffers
    /// (usage, size, offsets) first; submits nothing. The bind groups of the last caller
    /// buffers are kept, so a loop over the same buffers creates none after its first call
    /// (the plan holds a reference to those buffers until it is given others or dropped).
    pub fn encode(&self, encoder: &mut wgpu::CommandEncoder, io: &PlanIo) -> Result<()> {
        self.ctx.check_health()?;
        self.check_io(io)?;
        let ctx = &self.ctx;
        let pl = &ctx.pipelines;
        let setup = &self.per_chunk;
        let mut cache = self.bind_cache.lock().map_err(|_| Error::Gpu {
            during: "encoding a plan",
            detail: "a thread panicked while encoding this plan".into(),
        })?;
        if cache.as_ref().is_none_or(|c| c.key != IoKey::of(io)) {
            let _serial = ctx.exclusive();
            *cache = Some(self.io_bind_groups(io));
        }
        let Some(groups) = cache.as_ref() else { unreachable!("just filled") };
        encoder.copy_buffer_to_buffer(&self.status_clear, 0, &self.status, 0, Some(8));
        if let Some(confusion) = &setup.confusion {
            encoder.clear_buffer(confusion, 0, None);
        }
        {
            let mut pass = ctx.compute_pass(encoder, "segloss plan");
            for ((passes, stage), g) in setup.passes.iter().zip(&setup.stage_pipelines).zip(&groups.forward) {
                record::record_forward(&mut pass, pl, stage, passes, g);
            }
            pass.set_pipeline(&pl.finalize);
            pass.set_bind_group(0, &self.finalize_bind, &[]);
            pass.dispatch_workgroups(1, 1, 1);
            for ((passes, pipeline), g) in setup.passes.iter().zip(&setup.backward_pipelines).zip(&groups.backward) {
                record::record_backward(&mut pass, pipeline, passes, g);
            }
        }
        let d = &self.desc;
        encoder.copy_buffer_to_buffer(&self.out, 0, io.values.buffer, io.values.offset, Some(d.values_bytes()));
        Ok(())
    }

    /// The blocking form: uploads the data into pooled buffers, records [`Plan::encode`],
    /// submits, waits and reads the values (and gradient) back. GPU errors and bad data are
    /// `Err`.
    pub fn run(&self, logits: LogitData, targets: TargetData) -> Result<PlanOutput> {
        use wgpu::BufferUsages as U;
        let d = &self.desc;
        let (logit_bytes, logit_format, logit_len): (&[u8], _, _) = match logits {
            LogitData::F32(x) => (bytemuck::cast_slice(x), LogitFormat::F32, x.len()),
            LogitData::F16(x) => (bytemuck::cast_slice(x), LogitFormat::F16, x.len()),
        };
        let (target_bytes, target_format, target_len): (&[u8], _, _) = match targets {
            TargetData::F32(t) => (bytemuck::cast_slice(t), TargetFormat::F32, t.len()),
            TargetData::U8(t) => (t, TargetFormat::U8, t.len()),
            TargetData::Classes(m) => match m {
                ClassMap::U8(v) => (v, TargetFormat::Classes8, v.len()),
                ClassMap::U16(v) => (bytemuck::cast_slice(v), TargetFormat::Classes16, v.len()),
                ClassMap::U32(v) => (bytemuck::cast_slice(v), TargetFormat::Classes32, v.len()),
            },
        };
        let checks = [
            (crate::Tensor::Input, format!("{logit_format:?}"), format!("{:?}", d.logits), logit_len, d.elements()),
            (
                crate::Tensor::Target,
                format!("{target_format:?}"),
                format!("{:?}", d.targets),
                target_len,
                d.target_elements(),
            ),
        ];
        for (tensor, format, want, len, expected) in checks {
            if format != want {
                return Err(Error::InvalidRequest(format!("{tensor:?}: {format} data for a plan that reads {want}")));
            }
            if len != expected {
                return Err(Error::ShapeMismatch { tensor, shape: self.dims(), expected, actual: len });
            }
        }
        let ctx = &self.ctx;
        ctx.scoped(|| {
            let upload = |label: &'static str, bytes: &[u8], size: u64| {
                let b = ctx.storage(label, size, U::COPY_DST);
                let whole = bytes.len() / 4 * 4;
                ctx.queue.write_buffer(&b, 0, &bytes[..whole]);
                if whole < bytes.len() {
                    let mut tail = [0u8; 4];
                    tail[..bytes.len() - whole].copy_from_slice(&bytes[whole..]);
                    ctx.queue.write_buffer(&b, whole as u64, &tail);
                }
                b
            };
            let x = upload("plan logits", logit_bytes, d.logits_bytes());
            let t = upload("plan targets", target_bytes, d.targets_bytes());
            let grad = d.gradient.then(|| ctx.storage("plan grad", d.grad_bytes(), U::COPY_SRC));
            let values = ctx.storage("plan values", d.values_bytes(), U::COPY_DST | U::COPY_SRC);
            let grad_bytes = if d.gradient { d.grad_bytes() } else { 0 };
            let staging = ctx.staging(d.values_bytes() + grad_bytes);
            let mut encoder = ctx.device.create_command_encoder(&Default::default());
            let io = PlanIo {
                logits: BufferAt::new(&x, 0),
                targets: BufferAt::new(&t, 0),
                values: BufferAt::new(&values, 0),
                grad: grad.as_deref().map(|g| BufferAt::new(g, 0)),
            };
            self.encode(&mut encoder, &io)?;
            encoder.copy_buffer_to_buffer(&values, 0, &staging, 0, Some(d.values_bytes()));
            if let Some(g) = &grad {
                encoder.copy_buffer_to_buffer(g, 0, &staging, d.values_bytes(), Some(grad_bytes));
            }
            ctx.queue.submit([encoder.finish()]);
            let bytes = ctx.read(&staging, d.values_bytes() + grad_bytes)?;
            let (v, g) = bytes.split_at(d.values_bytes() as usize);
            let v: Vec<f32> = bytemuck::pod_collect_to_vec(v);
            if v[0].is_nan() {
                if let Some(e) = self.data_error(logits, targets) {
                    return Err(e);
                }
            }
            Ok(PlanOutput {
                total: v[0],
                values: v[1..].to_vec(),
                grad: d.gradient.then(|| bytemuck::pod_collect_to_vec(g)),
            })
        })
    }

    fn dims(&self) -> Vec<usize> {
        self.desc.shape.dims_with_channels(self.desc.channels)
    }

    /// The first bad element, found on the host (only after the GPU flagged one).
    fn data_error(&self, logits: LogitData, targets: TargetData) -> Option<Error> {
        let x: Vec<f32> = match logits {
            LogitData::F32(x) => x.to_vec(),
            LogitData::F16(x) => x.iter().map(|v| v.to_f32()).collect(),
        };
        let d = &self.desc;
        let t: Vec<f32> = match targets {
            TargetData::F32(t) => t.to_vec(),
            TargetData::U8(t) => t.iter().map(|&v| v as f32).collect(),
            TargetData::Classes(map) => {
                let mut batch = crate::batch::MulticlassBatch::new(&x, map, &self.dims()).ok()?;
                batch.ignore_index = d.ignore.map(|v| v as u32);
                return crate::cpu::classes::check_data(&batch);
            }
        };
        let mut batch = BinaryBatch::multilabel(&x, &t, &self.dims()).ok()?;
        batch.input_kind = d.input_kind;
        batch.ignore = d.ignore;
        crate::cpu::stats::check_data(&batch)
    }
}

/// Elements `start..start + len` of `per` bytes each of a caller buffer, as a binding.
fn slice<'a>(at: BufferAt<'a>, start: usize, len: usize, per: u64) -> wgpu::BufferBinding<'a> {
    wgpu::BufferBinding {
        buffer: at.buffer,
        offset: at.offset + start as u64 * per,
        size: std::num::NonZeroU64::new((len as u64 * per).next_multiple_of(4)),
    }
}

fn check_room(name: &str, at: BufferAt, need: u64, usage: wgpu::BufferUsages) -> Result<()> {
    if !at.buffer.usage().contains(usage) {
        return Err(Error::InvalidRequest(format!("{name} buffer: usage {:?} lacks {usage:?}", at.buffer.usage())));
    }
    let have = at.buffer.size().saturating_sub(at.offset);
    if have < need {
        return Err(Error::InvalidRequest(format!(
            "{name} buffer: {need} bytes needed from offset {}, the buffer has {have}",
            at.offset
        )));
    }
    Ok(())
}
