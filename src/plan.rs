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

use crate::aggregate::{self, AbsentClass, ClassSelection, Layout, Mode};
use crate::batch::{self, BinaryBatch, ClassMap, InputKind, Shape};
use crate::error::{Error, Result};
use crate::gpu::layout::{Params, COEF_BYTES, FLAG_INPUT_F16, FLAG_TARGET_U8, SUMS_BYTES};
use crate::gpu::plan::{self as chunking, Chunk};
use crate::gpu::GpuContext;
use crate::loss::{Aggregation, Loss, PixelParams, Reduction, Term, TpForm};
use bytemuck::{Pod, Zeroable};
use std::sync::Arc;

/// How the logits are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogitFormat {
    /// 4 bytes each.
    #[default]
    F32,
    /// IEEE half precision, 2 bytes each (two per 32-bit word, first in the low half).
    /// Decoded exactly with integer operations: no `SHADER_F16` feature needed.
    F16,
}

/// How the targets are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TargetFormat {
    /// 4 bytes each, in [0, 1] (soft targets allowed).
    #[default]
    F32,
    /// 1 byte each: 0, 1 or the ignore value (hard targets; four per 32-bit word).
    U8,
    /// Multiclass: a u8 class map `[N, H, W]` (four per word).
    Classes8,
    /// Multiclass: a u16 class map (two per word).
    Classes16,
    /// Multiclass: a u32 class map.
    Classes32,
}

impl TargetFormat {
    fn bytes(self) -> u64 {
        match self {
            TargetFormat::F32 | TargetFormat::Classes32 => 4,
            TargetFormat::Classes16 => 2,
            TargetFormat::U8 | TargetFormat::Classes8 => 1,
        }
    }

    fn is_class_map(self) -> bool {
        matches!(self, TargetFormat::Classes8 | TargetFormat::Classes16 | TargetFormat::Classes32)
    }
}

/// What a plan computes: shape, mode, formats and terms.
#[derive(Debug, Clone)]
pub struct PlanDesc {
    /// Binary, multilabel (sigmoid per channel) or multiclass (softmax over channels).
    pub mode: Mode,
    /// Images and pixels.
    pub shape: Shape,
    /// Channels: 1 (binary), sigmoid channels (multilabel) or classes (multiclass).
    pub channels: usize,
    /// Logits or probabilities.
    pub input_kind: InputKind,
    /// Storage format of the logits.
    pub logits: LogitFormat,
    /// Storage format of the targets.
    pub targets: TargetFormat,
    /// Targets equal to this value (multiclass: this class index) are ignored.
    pub ignore: Option<f32>,
    /// The terms; their weighted sum is the total.
    pub terms: Vec<Term>,
    /// Also write the gradient of the total.
    pub gradient: bool,
}

impl PlanDesc {
    /// A binary plan for logits of dims `[N, H, W]` or `[N, 1, H, W]`.
    pub fn binary(dims: &[usize], terms: Vec<Term>) -> Result<PlanDesc> {
        Ok(PlanDesc::with(Mode::Binary, Shape::from_dims(dims)?, 1, terms))
    }

    /// A multilabel plan for logits of dims `[N, C, H, W]` (one sigmoid per channel).
    pub fn multilabel(dims: &[usize], terms: Vec<Term>) -> Result<PlanDesc> {
        let (shape, c) = batch::multilabel_shape(dims)?;
        Ok(PlanDesc::with(Mode::Multilabel, shape, c, terms))
    }

    /// A multiclass plan: logits `[N, C, H, W]` (softmax over C; f32 or f16) and a class map
    /// `[N, H, W]` in `map` (`Classes8`, `Classes16` or `Classes32`).
    pub fn multiclass(dims: &[usize], map: TargetFormat, terms: Vec<Term>) -> Result<PlanDesc> {
        let (shape, c) = batch::multilabel_shape(dims)?;
        if !map.is_class_map() {
            return Err(Error::InvalidRequest(format!("a multiclass plan reads a class map, not {map:?} targets")));
        }
        let mut d = PlanDesc::with(Mode::Multiclass, shape, c, terms);
        d.targets = map;
        Ok(d)
    }

    fn with(mode: Mode, shape: Shape, channels: usize, terms: Vec<Term>) -> PlanDesc {
        PlanDesc {
            mode,
            shape,
            channels,
            input_kind: InputKind::Logits,
            logits: LogitFormat::F32,
            targets: TargetFormat::F32,
            ignore: None,
            terms,
            gradient: false,
        }
    }

    /// Also compute the gradient.
    pub fn with_gradient(mut self) -> Self {
        self.gradient = true;
        self
    }

    /// Logits stored as `format`.
    pub fn logit_format(mut self, format: LogitFormat) -> Self {
        self.logits = format;
        self
    }

    /// Targets stored as `format`.
    pub fn target_format(mut self, format: TargetFormat) -> Self {
        self.targets = format;
        self
    }

    /// Ignore pixels whose target equals `value` (finite; 0…255 for u8 targets).
    pub fn ignore_value(mut self, value: f32) -> Self {
        self.ignore = Some(value);
        self
    }

    /// Multiclass: ignore pixels of class `index` (at most 2^24).
    pub fn ignore_index(mut self, index: u32) -> Self {
        self.ignore = Some(index as f32);
        self
    }

    /// The input holds probabilities in [0, 1] instead of logits.
    pub fn probabilities(mut self) -> Self {
        self.input_kind = InputKind::Probabilities;
        self
    }

    /// Elements of the logits (= of the gradient).
    pub fn elements(&self) -> usize {
        self.shape.len() * self.channels
    }

    /// Elements of the targets (multiclass: pixels of the class map).
    pub fn target_elements(&self) -> usize {
        if self.mode == Mode::Multiclass {
            self.shape.len()
        } else {
            self.elements()
        }
    }

    /// Bytes the logits buffer must hold from its offset (rounded up to whole words).
    pub fn logits_bytes(&self) -> u64 {
        let per = if self.logits == LogitFormat::F16 { 2 } else { 4 };
        (self.elements() as u64 * per).next_multiple_of(4)
    }

    /// Bytes the targets buffer must hold from its offset (rounded up to whole words).
    pub fn targets_bytes(&self) -> u64 {
        (self.target_elements() as u64 * self.targets.bytes()).next_multiple_of(4)
    }

    /// Bytes of the f32 gradient.
    pub fn grad_bytes(&self) -> u64 {
        self.elements() as u64 * 4
    }

    /// Bytes of the values written: `1 + terms` f32.
    pub fn values_bytes(&self) -> u64 {
        (1 + self.terms.len() as u64) * 4
    }

    fn layout(&self) -> Layout {
        Layout { images: self.shape.n, classes: self.channels, mode: self.mode }
    }
}

/// A caller buffer and the byte offset where the plan's data starts.
#[derive(Debug, Clone, Copy)]
pub struct BufferAt<'a> {
    /// The buffer.
    pub buffer: &'a wgpu::Buffer,
    /// Byte offset.
    pub offset: u64,
}

impl<'a> BufferAt<'a> {
    /// `buffer` from byte `offset`.
    pub fn new(buffer: &'a wgpu::Buffer, offset: u64) -> Self {
        BufferAt { buffer, offset }
    }
}

/// The caller buffers one `encode` reads and writes.
#[derive(Debug, Clone, Copy)]
pub struct PlanIo<'a> {
    /// Logits (read).
    pub logits: BufferAt<'a>,
    /// Targets (read).
    pub targets: BufferAt<'a>,
    /// `[total, term values…]` as f32 (written by a copy).
    pub values: BufferAt<'a>,
    /// The gradient of the total (written; required when the plan has a gradient).
    pub grad: Option<BufferAt<'a>>,
}

/// Logits handed to [`Plan::run`].
#[derive(Debug, Clone, Copy)]
pub enum LogitData<'a> {
    /// f32 logits.
    F32(&'a [f32]),
    /// Half-precision logits.
    F16(&'a [half::f16]),
}

/// Targets handed to [`Plan::run`].
#[derive(Debug, Clone, Copy)]
pub enum TargetData<'a> {
    /// f32 targets.
    F32(&'a [f32]),
    /// u8 hard targets.
    U8(&'a [u8]),
    /// A multiclass class map.
    Classes(crate::batch::ClassMap<'a>),
}

/// What [`Plan::run`] returns.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanOutput {
    /// Σ weight·value.
    pub total: f32,
    /// Each term's value, in order.
    pub values: Vec<f32>,
    /// The gradient of the total (when the plan has one).
    pub grad: Option<Vec<f32>>,
}

/// Mirror of `TermSpec` in finalize.wgsl (48 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, Pod, Zeroable)]
struct TermSpec {
    kind: u32,
    flags: u32,
    absent: u32,
    class_w: u32,
    weight: f32,
    p: [f32; 7],
    undefined: f32,
}

/// Mirror of `ChunkRef` in finalize.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, Pod, Zeroable)]
struct ChunkRef {
    first_row: u32,
    n_rows: u32,
    base: u32,
    _pad: u32,
}

const T_PER_IMAGE: u32 = 1;
const T_LOG: u32 = 2;
const T_SQUARED: u32 = 4;
const T_SOFT_TP: u32 = 8;
const T_NORMALIZE: u32 = 16;
const T_SUM: u32 = 32;
const T_WEIGHTS: u32 = 64;
const T_GDL_SIMPLE: u32 = 128;
const T_GDL_UNIFORM: u32 = 256;
const T_COUNT_UNDEFINED: u32 = 512;

/// The finalize kernel's description of term `i`, or why a plan cannot compute it. Every
/// loss struct is destructured without `..`: a new option is a compile error here until the
/// finalize kernel handles it (or rejects it).
fn term_spec(i: usize, term: &Term, classes: usize, mode: Mode) -> Result<TermSpec> {
    let unsupported = |what: String| {
        Err(Error::InvalidRequest(format!(
            "term {i}: {what} is not available in a plan yet; use Engine::forward / value_and_grad"
        )))
    };
    let Term { loss, aggregation, weight, classes: options, undefined_images } = term;
    let mut s = TermSpec { class_w: (2 * i * classes) as u32, weight: *weight as f32, ..Default::default() };
    let softmax = mode == Mode::Multiclass;
    let flags = |log: bool, squared: bool, tp: TpForm| {
        (if log { T_LOG } else { 0 })
            | (if squared { T_SQUARED } else { 0 })
            | (if tp == TpForm::SoftL1 { T_SOFT_TP } else { 0 })
    };
    let sum = |r: Reduction| if r == Reduction::Sum { T_SUM } else { 0 };
    let f = |v: f64| v as f32;
    let dice_spec = |d: &crate::loss::Dice| {
        let crate::loss::Dice { smooth_nr, smooth_dr, eps, squared, log_loss, tp_form } = *d;
        (flags(log_loss, squared, tp_form), [f(smooth_nr), f(smooth_dr), f(eps)])
    };
    match loss {
        Loss::Dice(d) => {
            let (fl, p) = dice_spec(d);
            (s.kind, s.flags) = (0, fl);
            s.p[..3].copy_from_slice(&p);
        }
        Loss::Iou(l) => {
            let crate::loss::Iou { smooth, eps } = *l;
            s.kind = 1;
            s.p[0] = f(smooth);
            s.p[2] = f(eps);
        }
        Loss::Tversky(t) => {
            let crate::loss::Tversky {
                alpha,
                beta,
                smooth,
                eps,
                gamma,
                smooth_dr,
                tp_form,
                log_loss,
                gamma_after_class_mean,
                squared,
            } = *t;
            if gamma_after_class_mean && gamma != 1.0 {
                return unsupported("Tversky with gamma_after_class_mean".into());
            }
            (s.kind, s.flags) = (2, flags(log_loss, squared, tp_form));
            let dr = smooth_dr.unwrap_or(smooth);
            s.p[..6].copy_from_slice(&[f(alpha), f(beta), f(eps), f(smooth), f(gamma), f(dr)]);
        }
        Loss::Bce(b) => {
            let crate::loss::Bce { pos_weight: _, label_smoothing: _, reduction } = *b;
            (s.kind, s.flags) = (3, sum(reduction));
        }
        Loss::Focal(l) => {
            // γ and the form are per-pixel parameters (the fused pass); so is α for sigmoid
            // rows, while the softmax focal weighs its class rows by α here.
            let crate::loss::Focal { alpha, gamma: _, reduction, form: _ } = *l;
            (s.kind, s.flags) = (if softmax { 9 } else { 4 }, sum(reduction));
            s.p[0] = alpha.map_or(-1.0, f);
            if options.weights.is_some() {
                s.flags |= T_WEIGHTS;
            }
        }
        Loss::CrossEntropy(ce) => {
            let crate::loss::CrossEntropy { label_smoothing, reduction } = *ce;
            (s.kind, s.flags) = (7, sum(reduction));
            s.p[3] = f(label_smoothing);
        }
        Loss::DiceCe(dc) => {
            let crate::loss::DiceCe { dice, ce, weight_dice, weight_ce } = *dc;
            let crate::loss::CrossEntropy { label_smoothing, reduction } = ce;
            let (fl, p) = dice_spec(&dice);
            (s.kind, s.flags) = (8, fl | sum(reduction));
            s.p = [p[0], p[1], p[2], f(label_smoothing), 0.0, f(weight_dice), f(weight_ce)];
        }
        Loss::GeneralizedDice(g) => {
            let crate::loss::GeneralizedDice { weighting, smooth_nr, smooth_dr, tp_form, all_absent_weight } = *g;
            s.kind = 10;
            s.flags = flags(false, false, tp_form)
                | match weighting {
                    crate::loss::GdlWeighting::Square => 0,
                    crate::loss::GdlWeighting::Simple => T_GDL_SIMPLE,
                    crate::loss::GdlWeighting::Uniform => T_GDL_UNIFORM,
                };
            s.p[..3].copy_from_slice(&[f(smooth_nr), f(smooth_dr), f(all_absent_weight)]);
        }
        Loss::BceDice(bd) => {
            let crate::loss::BceDice { bce, dice, weight_bce, weight_dice } = *bd;
            let (fl, p) = dice_spec(&dice);
            (s.kind, s.flags) = (5, fl | sum(bce.reduction));
            s.p = [p[0], p[1], p[2], 0.0, 0.0, f(weight_bce), f(weight_dice)];
        }
        Loss::Combo(c) => {
            let crate::loss::Combo { ce_ratio, beta: _, smooth, eps } = *c;
            s.kind = if softmax { 11 } else { 6 };
            s.p[..4].copy_from_slice(&[f(smooth), f(smooth), f(eps), f(ce_ratio)]);
        }
        Loss::LovaszHinge(_) | Loss::LovaszSoftmax(_) => {
            return unsupported(format!("{} (a sort per call, not a function of sums)", loss.name()))
        }
    }
    let crate::aggregate::ClassOptions { weights: _, normalize_weights, selection: _, absent, pool } = options;
    if *pool {
        return unsupported("pooled classes (ClassOptions::pool)".into());
    }
    if let (Aggregation::PerImage, Some(v)) = (aggregation, undefined_images) {
        s.flags |= T_COUNT_UNDEFINED;
        s.undefined = *v as f32;
    }
    if *aggregation == Aggregation::PerImage {
        s.flags |= T_PER_IMAGE;
    }
    if *normalize_weights {
        s.flags |= T_NORMALIZE;
    }
    s.absent = match absent {
        AbsentClass::Smoothed => 0,
        AbsentClass::Zero => 1,
        AbsentClass::Skip => 2,
    };
    Ok(s)
}

/// Per term, C class weights, then C selection flags (1 selected, 0 not).
fn class_weights(terms: &[Term], classes: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(2 * terms.len() * classes);
    for term in terms {
        let opts = &term.classes;
        let selected: Vec<bool> = match &opts.selection {
            ClassSelection::All => vec![true; classes],
            ClassSelection::NoBackground => (0..classes).map(|k| k > 0).collect(),
            ClassSelection::Only(list) => (0..classes).map(|k| list.contains(&k)).collect(),
        };
        out.extend((0..classes).map(|k| opts.weights.as_ref().map_or(1.0, |w| w[k]) as f32));
        out.extend(selected.into_iter().map(|sel| if sel { 1.0 } else { 0.0 }));
    }
    out
}

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
    forward: Vec<wgpu::BindGroup>,
    rows: Vec<wgpu::BindGroup>,
    backward: Vec<wgpu::BindGroup>,
}

struct SoftmaxPass {
    workgroups: u32,
    final_params: wgpu::Buffer,
    confusion: wgpu::Buffer,
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

/// The per-chunk part of a plan: per chunk, the forward uniform, the backward uniform and
/// its workgroups, and the first row of its rows in `chunk_rows` (a multiple of 4: 256-byte
/// offsets); scratch sizes; multiclass: the class pass's workgroups, its stats_final uniform
/// and the confusion-matrix scratch it writes.
struct ChunkSetup {
    chunks: Vec<Chunk>,
    forward_params: Vec<wgpu::Buffer>,
    grad_params: Vec<wgpu::Buffer>,
    grad_workgroups: Vec<u32>,
    row_bases: Vec<u64>,
    refs: Vec<ChunkRef>,
    rows_total: u64,
    partial_rows: u64,
    softmax: Option<SoftmaxPass>,
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
            .map(|(i, t)| term_spec(i, t, desc.channels, desc.mode))
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
        let weights = class_weights(&desc.terms, desc.channels);
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
        let max_len = (chunking::max_chunk_len(seg_len, ctx.binding_elems) / 256 * 256).max(256);
        let chunks = chunking::chunks(desc.elements(), seg_len, max_len);
        let mut base = Params::for_pixels(desc.input_kind, desc.ignore, seg_len, pp);
        if desc.logits == LogitFormat::F16 {
            base.flags |= FLAG_INPUT_F16;
        }
        if desc.targets == TargetFormat::U8 {
            base.flags |= FLAG_TARGET_U8;
        }
        let mut s = ChunkSetup {
            chunks: Vec::new(),
            forward_params: Vec::new(),
            grad_params: Vec::new(),
            grad_workgroups: Vec::new(),
            row_bases: Vec::new(),
            refs: Vec::new(),
            rows_total: 0,
            partial_rows: 1,
            softmax: None,
        };
        for chunk in &chunks {
            let p = ctx.chunk_params(&base, chunk, seg_len);
            s.partial_rows = s.partial_rows.max(p.n_seg as u64 * p.wg_per_seg as u64);
            let workgroups = chunking::elementwise_workgroups(chunk.len, ctx.max_workgroups);
            let g = Params { n_threads: workgroups * chunking::WG_SIZE, first_seg: chunk.first_seg as u32, ..p };
            s.forward_params.push(make.uniform("plan params", &p));
            s.grad_params.push(make.uniform("plan grad params", &g));
            s.grad_workgroups.push(workgroups);
            s.refs.push(ChunkRef {
                first_row: chunk.first_seg as u32,
                n_rows: chunk.n_seg as u32,
                base: s.rows_total as u32,
                _pad: 0,
            });
            s.row_bases.push(s.rows_total);
            s.rows_total += (chunk.n_seg as u64).next_multiple_of(4);
        }
        s.chunks = chunks;
        s
    }

    /// Multiclass: the whole batch in one pass (its logits within one binding).
    fn softmax_chunks(ctx: &GpuContext, desc: &PlanDesc, pp: &PixelParams, make: &Maker) -> Result<ChunkSetup> {
        let (n, c, hw) = (desc.shape.n, desc.channels, desc.shape.pixels());
        let class_chunks = chunking::class_chunks(n, hw, c, ctx.binding_elems).map_err(Error::InvalidRequest)?;
        let [chunk] = class_chunks[..] else {
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
        let ignore = desc.ignore.map(|v| v as u32);
        let mut p = ctx.class_params_for(c, ignore, format, &chunk, pp.focal_gamma);
        if desc.logits == LogitFormat::F16 {
            p.flags |= FLAG_INPUT_F16;
        }
        let lanes = chunking::class_lanes(c) as u32;
        let n_rows = (n * c) as u32;
        let fp = Params { n_seg: n_rows, wg_per_seg: p.wg_per_seg * lanes, ..p };
        let workgroups = chunking::elementwise_workgroups(n * hw, ctx.max_workgroups);
        let g = Params { n_threads: workgroups * chunking::WG_SIZE, ..p };
        let whole = Chunk { start: 0, len: n * c * hw, first_seg: 0, n_seg: n_rows as usize, seg_offset: 0 };
        Ok(ChunkSetup {
            chunks: vec![whole],
            forward_params: vec![make.uniform("plan class params", &p)],
            grad_params: vec![make.uniform("plan class grad params", &g)],
            grad_workgroups: vec![workgroups],
            row_bases: vec![0],
            refs: vec![ChunkRef { first_row: 0, n_rows, base: 0, _pad: 0 }],
            rows_total: n_rows as u64,
            partial_rows: n_rows as u64 * fp.wg_per_seg as u64,
            softmax: Some(SoftmaxPass {
                workgroups: p.wg_per_seg,
                final_params: make.uniform("plan class final params", &fp),
                confusion: make.buffer(
                    "plan confusion",
                    (c * c * 4) as u64,
                    wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
                ),
            }),
        })
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

    /// The bind groups that read or write the caller's buffers, per chunk: forward, its
    /// row reduction, backward.
    fn io_bind_groups(&self, io: &PlanIo) -> IoBindGroups {
        let ctx = &self.ctx;
        let pl = &ctx.pipelines;
        let d = &self.desc;
        let lb = if d.logits == LogitFormat::F16 { 2 } else { 4 };
        let tb = d.targets.bytes();
        let bind = |layout: &wgpu::BindGroupLayout, entries: &[wgpu::BufferBinding]| {
            let entries: Vec<_> = entries
                .iter()
                .enumerate()
                .map(|(i, b)| wgpu::BindGroupEntry {
                    binding: i as u32,
                    resource: wgpu::BindingResource::Buffer(b.clone()),
                })
                .collect();
            ctx.device.create_bind_group(&wgpu::BindGroupDescriptor { label: None, layout, entries: &entries })
        };
        let mut out = IoBindGroups { key: IoKey::of(io), forward: Vec::new(), rows: Vec::new(), backward: Vec::new() };
        for (k, chunk) in self.per_chunk.chunks.iter().enumerate() {
            let params = whole(&self.per_chunk.forward_params[k]);
            let rows = wgpu::BufferBinding {
                buffer: &self.chunk_rows,
                offset: self.per_chunk.row_bases[k] * SUMS_BYTES,
                size: std::num::NonZeroU64::new(chunk.n_seg as u64 * SUMS_BYTES),
            };
            // Multiclass plans have one chunk of whole images: the class map starts at 0.
            let targets = match self.per_chunk.softmax {
                Some(_) => slice(io.targets, 0, d.target_elements(), tb),
                None => slice(io.targets, chunk.start, chunk.len, tb),
            };
            let logits = slice(io.logits, chunk.start, chunk.len, lb);
            if let Some(sm) = &self.per_chunk.softmax {
                let forward = [
                    params,
                    logits.clone(),
                    targets.clone(),
                    whole(&self.partials),
                    whole(&self.status),
                    whole(&sm.confusion),
                ];
                out.forward.push(bind(&pl.class_stats_layout, &forward));
                out.rows.push(bind(&pl.final_layout, &[whole(&sm.final_params), whole(&self.partials), rows]));
            } else {
                let forward =
                    [params.clone(), logits.clone(), targets.clone(), whole(&self.partials), whole(&self.status)];
                out.forward.push(bind(&pl.stats_layout, &forward));
                out.rows.push(bind(&pl.final_layout, &[params, whole(&self.partials), rows]));
            }
            if let (true, Some(grad)) = (d.gradient, io.grad) {
                let backward = [
                    whole(&self.per_chunk.grad_params[k]),
                    logits,
                    targets,
                    whole(&self.coefs),
                    slice(grad, chunk.start, chunk.len, 4),
                ];
                out.backward.push(bind(&pl.grad_layout, &backward));
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
        let d = &self.desc;
        let mut cache = self.bind_cache.lock().map_err(|_| Error::Gpu {
            during: "encoding a plan",
            detail: "a thread panicked while encoding this plan".into(),
        })?;
        if cache.as_ref().is_none_or(|c| c.key != IoKey::of(io)) {
            *cache = Some(self.io_bind_groups(io));
        }
        let Some(groups) = cache.as_ref() else { unreachable!("just filled") };
        encoder.copy_buffer_to_buffer(&self.status_clear, 0, &self.status, 0, Some(8));
        if let Some(sm) = &self.per_chunk.softmax {
            encoder.clear_buffer(&sm.confusion, 0, None);
        }
        {
            let mut pass = ctx.compute_pass(encoder, "segloss plan");
            for (k, chunk) in self.per_chunk.chunks.iter().enumerate() {
                pass.set_bind_group(0, &groups.forward[k], &[]);
                if let Some(sm) = &self.per_chunk.softmax {
                    pass.set_pipeline(&pl.class_stats);
                    let blocks = d.channels.div_ceil(chunking::WG_SIZE as usize) as u32;
                    pass.dispatch_workgroups(sm.workgroups, d.shape.n as u32, blocks);
                } else {
                    let seg_len = d.shape.pixels();
                    let wg = chunking::workgroups_per_segment(chunk, seg_len, ctx.max_workgroups, ctx.binding_elems);
                    pass.set_pipeline(&pl.stats_partials);
                    pass.dispatch_workgroups(wg, chunk.n_seg as u32, 1);
                }
                pass.set_pipeline(&pl.stats_final);
                pass.set_bind_group(0, &groups.rows[k], &[]);
                let (x, y) = chunking::fold(chunk.n_seg);
                pass.dispatch_workgroups(x, y, 1);
            }
            pass.set_pipeline(&pl.finalize);
            pass.set_bind_group(0, &self.finalize_bind, &[]);
            pass.dispatch_workgroups(1, 1, 1);
            let pipeline = if self.per_chunk.softmax.is_some() { &pl.class_grad } else { &pl.grad };
            for (k, group) in groups.backward.iter().enumerate() {
                pass.set_pipeline(pipeline);
                pass.set_bind_group(0, group, &[]);
                pass.dispatch_workgroups(self.per_chunk.grad_workgroups[k], 1, 1);
            }
        }
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
        let s = self.desc.shape;
        vec![s.n, self.desc.channels, s.h, s.w]
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

impl PlanDesc {
    /// Formats and ignore value against the mode.
    fn check_formats(&self) -> Result<()> {
        let multiclass = self.mode == Mode::Multiclass;
        if multiclass != self.targets.is_class_map() {
            return Err(Error::InvalidRequest(format!(
                "{:?} targets do not fit a {:?} plan (class maps are for multiclass plans)",
                self.targets, self.mode
            )));
        }
        if multiclass && self.input_kind != InputKind::Logits {
            return Err(Error::InvalidRequest(
                "multiclass plans read logits (probabilities are for binary/multilabel plans)".into(),
            ));
        }
        if let Some(v) = self.ignore {
            let integer = (0.0..=16_777_216.0).contains(&v) && v.fract() == 0.0;
            let ok = match self.targets {
                TargetFormat::F32 => v.is_finite(),
                TargetFormat::U8 => integer && v <= 255.0,
                _ => integer,
            };
            if !ok {
                return Err(Error::InvalidParameter {
                    loss: "PlanDesc",
                    param: "ignore",
                    value: v as f64,
                    reason: "must be finite (an integer 0..=255 for u8 targets, a class index for class maps)",
                });
            }
        }
        Ok(())
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

fn whole(buffer: &wgpu::Buffer) -> wgpu::BufferBinding<'_> {
    wgpu::BufferBinding { buffer, offset: 0, size: None }
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
