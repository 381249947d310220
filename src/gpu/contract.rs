//! The contract between the Rust side and the kernels: host mirrors of the shaders' data
//! structures (`Params`, `Sums`, `Coef` in `shaders/prelude.wgsl`), their conversions, the
//! `Params::flags` bits and the status word. A test compares each mirror's size and field
//! offsets with naga's layout of the WGSL struct.

use crate::batch::{BinaryBatch, ClassMap, InputKind, MulticlassBatch};
use crate::pixel::{FocalForm, LogSums, PixelParams};
use crate::stats::{Coefficients, Stats};
use bytemuck::{Pod, Zeroable};

/// Mirror of WGSL `Params` (80 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, Pod, Zeroable)]
pub struct Params {
    pub chunk_len: u32,
    pub seg_len: u32,
    pub seg_offset: u32,
    pub n_seg: u32,
    pub wg_per_seg: u32,
    pub flags: u32,
    pub n_threads: u32,
    pub classes: u32,
    pub ignore_value: f32,
    pub pos_weight: f32,
    pub label_smoothing: f32,
    pub focal_alpha: f32,
    pub focal_gamma: f32,
    pub wce_beta: f32,
    pub target_format: u32,
    pub ignore_index: u32,
    pub class_index: u32,
    pub plane: u32,
    pub lovasz_mode: u32,
    pub first_seg: u32,
}

shared_constants! { PRELUDE_CONSTANTS:
    /// `Params::flags`: the input holds probabilities.
    FLAG_PROBABILITIES = 1;
    /// `Params::flags`: pixels whose target is `ignore_value` (or class `ignore_index`) are ignored.
    FLAG_IGNORE = 2;
    /// `Params::flags`: the focal term has an α.
    FLAG_FOCAL_ALPHA = 4;
    /// `Params::flags` bits 3-4: the focal form (0 probability, 1 exp(−BCE), 2 log-sigmoid, 3 per-term).
    FOCAL_FORM_SHIFT = 3;
    /// `Params::flags`: f16 logits, two per word (load.wgsl).
    FLAG_INPUT_F16 = 32;
    /// `Params::flags`: u8 targets, four per word (load.wgsl).
    FLAG_TARGET_U8 = 64;
    /// `Params::flags`: the forward pass leaves the BCE sum out (`LogSums`; the host makes it NaN).
    FLAG_NO_BCE = 128;
    /// `Params::flags`: the forward pass leaves the focal sum out.
    FLAG_NO_FOCAL = 256;
    /// `Params::flags`: the forward pass leaves the weighted-CE sum out.
    FLAG_NO_WCE = 512;
    /// A specialisation constant left to run time (`SPEC_*` in prelude.wgsl, specialize.rs).
    SPEC_RUNTIME = 0xffff_ffff;
    /// `SPEC_GAMMA`: focal γ = 0 (no modulator).
    GAMMA_ZERO = 0;
    /// `SPEC_GAMMA`: focal γ = 1.
    GAMMA_ONE = 1;
    /// `SPEC_GAMMA`: focal γ = 2 (a square).
    GAMMA_TWO = 2;
    /// `SPEC_GAMMA`: any other γ (one log and one exp).
    GAMMA_OTHER = 3;
    /// `SPEC_TERMS`: the BCE term of the backward pass may have a non-zero coefficient.
    TERM_BCE = 1;
    /// `SPEC_TERMS`: the weighted-CE term may have a non-zero coefficient.
    TERM_WCE = 2;
    /// `SPEC_TERMS`: the focal term may have a non-zero coefficient.
    TERM_FOCAL = 4;
    /// `SPEC_TERMS`: the Σp² (squared Dice) term may have a non-zero coefficient.
    TERM_SPP = 8;
    /// `SPEC_TERMS`: the Σ|p − t| term may have a non-zero coefficient.
    TERM_SAD = 16;
    /// `SPEC_TERMS`: the Σmin(p, t) term may have a non-zero coefficient.
    TERM_SMIN = 32;
    /// `SPEC_TERMS`: every term (the default).
    TERMS_ALL = 63;
    /// Workgroup size of every kernel but the sort's (`@workgroup_size(WG_SIZE)`).
    WG_SIZE = 256;
    /// Workgroup size of the sort and scan kernels (`@workgroup_size(SORT_WG)`).
    SORT_WG = 256;
    /// Elements per sort/scan workgroup (4 per invocation).
    BLOCK = 1024;
    /// Workgroup size of the lane strategy's sort and scan kernels (`@workgroup_size(LANE_WG)`).
    LANE_WG = 64;
    /// Rows of the multiclass backward's uniform coefficient table (coefs_uniform.wgsl):
    /// 512 × 32 B = 16 KiB, the smallest `max_uniform_buffer_binding_size` wgpu allows.
    UNIFORM_COEFS = 512;
    /// Lovasz: the largest sort key of a positive error (lovasz_key.wgsl `error_key`); only
    /// those pixels enter the sort, the rest contribute nothing but to the label totals.
    LOVASZ_KEEP_MAX = 0x7ffffffe;
}

/// The generated head of every kernel: the constants above.
pub(crate) fn wgsl_constants() -> String {
    let mut out = String::from("// Generated from src/gpu/contract.rs.\n");
    for (name, value) in PRELUDE_CONSTANTS {
        out.push_str(&format!("const {name}: u32 = {value}u;\n"));
    }
    out
}

impl Params {
    /// The data-independent part: flags and per-pixel parameters.
    pub fn new(batch: &BinaryBatch, pp: &PixelParams) -> Params {
        Params::for_pixels(batch.input_kind, batch.ignore, batch.shape.pixels(), pp)
    }

    /// The data-independent part from its pieces (segments of `seg_len` pixels).
    pub fn for_pixels(input_kind: InputKind, ignore: Option<f32>, seg_len: usize, pp: &PixelParams) -> Params {
        let mut flags = 0;
        if input_kind == InputKind::Probabilities {
            flags |= FLAG_PROBABILITIES;
        }
        if ignore.is_some() {
            flags |= FLAG_IGNORE;
        }
        if pp.focal_alpha.is_some() {
            flags |= FLAG_FOCAL_ALPHA;
        }
        flags |= focal_form_bits(pp.focal_form) | log_sum_bits(pp.log_sums);
        Params {
            flags,
            seg_len: seg_len as u32,
            ignore_value: ignore.unwrap_or(0.0),
            pos_weight: pp.pos_weight as f32,
            label_smoothing: pp.label_smoothing as f32,
            focal_alpha: pp.focal_alpha.unwrap_or(0.0) as f32,
            focal_gamma: pp.focal_gamma as f32,
            wce_beta: pp.wce_beta as f32,
            ..Params::default()
        }
    }
}

impl Params {
    /// The chunk-independent part of a multiclass pass over `batch` (per-pixel parameters
    /// `pp`: its focal γ and log-loss sums).
    pub fn for_classes(batch: &MulticlassBatch, pp: &PixelParams) -> Params {
        Params::class_base(batch.classes, batch.ignore_index, class_map_format(&batch.target), pp)
    }

    /// [`Params::for_classes`] from its pieces (`format`: see [`class_map_format`]).
    pub fn class_base(classes: usize, ignore_index: Option<u32>, format: u32, pp: &PixelParams) -> Params {
        let (flags, ignore_index) = match ignore_index {
            Some(i) => (FLAG_IGNORE, i),
            None => (0, 0),
        };
        Params {
            flags: flags | log_sum_bits(pp.log_sums),
            classes: classes as u32,
            focal_gamma: pp.focal_gamma as f32,
            target_format: format,
            ignore_index,
            ..Params::default()
        }
    }
}

/// The `FLAG_NO_*` bits of the log-loss sums a pass leaves out.
fn log_sum_bits(sums: LogSums) -> u32 {
    [(sums.bce, FLAG_NO_BCE), (sums.focal, FLAG_NO_FOCAL), (sums.wce, FLAG_NO_WCE)]
        .into_iter()
        .filter(|&(computed, _)| !computed)
        .fold(0, |acc, (_, bit)| acc | bit)
}

/// The format code of a class map (`target_format` in prelude.wgsl): 0 u32, 1 u16 (two per
/// word), 2 u8 (four per word).
pub fn class_map_format(map: &ClassMap) -> u32 {
    match map {
        ClassMap::U32(_) => 0,
        ClassMap::U16(_) => 1,
        ClassMap::U8(_) => 2,
    }
}

/// The focal form in bits 3-4 of `flags` (`FOCAL_FORM_SHIFT` in prelude.wgsl).
fn focal_form_bits(form: FocalForm) -> u32 {
    let code = match form {
        FocalForm::Probability => 0,
        FocalForm::ExpBce => 1,
        FocalForm::LogSigmoid => 2,
        FocalForm::PerTerm => 3,
    };
    code << FOCAL_FORM_SHIFT
}

/// Mirror of WGSL `Sums` (64 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, Pod, Zeroable)]
pub struct GpuSums {
    pub f0: [f32; 4],
    pub f1: [f32; 4],
    pub f2: [f32; 4],
    pub n: [u32; 4],
}

impl From<&GpuSums> for Stats {
    fn from(g: &GpuSums) -> Stats {
        Stats {
            sp: g.f0[0] as f64,
            st: g.f0[1] as f64,
            tp: g.f0[2] as f64,
            spp: g.f0[3] as f64,
            stt: g.f1[0] as f64,
            sad: g.f1[1] as f64,
            bce: g.f1[2] as f64,
            focal: g.f1[3] as f64,
            wce: g.f2[0] as f64,
            count: g.n[0] as u64,
            hard_tp: g.n[1] as u64,
            hard_fp: g.n[2] as u64,
            hard_fn: g.n[3] as u64,
        }
    }
}

/// Mirror of WGSL `Coef` (32 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, Pod, Zeroable)]
pub struct GpuCoef {
    pub c: [f32; 8],
}

impl From<&Coefficients> for GpuCoef {
    fn from(c: &Coefficients) -> GpuCoef {
        GpuCoef { c: [c.sp, c.tp, c.spp, c.sad, c.bce, c.focal, c.wce, c.smin].map(|v| v as f32) }
    }
}

pub const SUMS_BYTES: u64 = std::mem::size_of::<GpuSums>() as u64;
pub const COEF_BYTES: u64 = std::mem::size_of::<GpuCoef>() as u64;

/// Bytes of the status word: [first bad input, first bad target] (`NONE` = none).
pub const STATUS_BYTES: u64 = 8;
/// The status word's value before a pass.
pub const STATUS_CLEAR: [u32; 2] = [u32::MAX; 2];

/// Field offsets of the mirrors by their WGSL names, and sizes (for the contract test).
/// Every member is compared by its WGSL name and byte offset (`Sums` has vector members).
#[cfg(test)]
pub(crate) fn mirrored_structs() -> Vec<crate::finalize::StructMirror> {
    use std::mem::{offset_of, size_of};
    macro_rules! fields {
        ($ty:ty: $($f:ident),*) => { vec![$((stringify!($f).to_string(), offset_of!($ty, $f))),*] };
    }
    let params = fields!(Params: chunk_len, seg_len, seg_offset, n_seg, wg_per_seg, flags, n_threads, classes,
        ignore_value, pos_weight, label_smoothing, focal_alpha, focal_gamma, wce_beta, target_format, ignore_index,
        class_index, plane, lovasz_mode, first_seg);
    let sums = fields!(GpuSums: f0, f1, f2, n);
    let coef = ["sp", "tp", "spp", "sad", "bce", "focal", "wce", "smin"]
        .iter()
        .enumerate()
        .map(|(i, name)| (name.to_string(), offset_of!(GpuCoef, c) + 4 * i))
        .collect();
    vec![
        ("Params", size_of::<Params>(), params),
        ("Sums", size_of::<GpuSums>(), sums),
        ("Coef", size_of::<GpuCoef>(), coef),
    ]
}
