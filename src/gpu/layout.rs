//! Host mirrors of the shaders' data structures (`Params`, `Sums`, `Coef` in
//! `shaders/prelude.wgsl`) and their conversions.

use crate::batch::{BinaryBatch, InputKind};
use crate::loss::{Coefficients, PixelParams};
use crate::stats::Stats;
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

pub const FLAG_PROBABILITIES: u32 = 1;
pub const FLAG_IGNORE: u32 = 2;
pub const FLAG_FOCAL_ALPHA: u32 = 4;
pub const FLAG_INPUT_F16: u32 = 32;
pub const FLAG_TARGET_U8: u32 = 64;

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
        flags |= focal_form_bits(pp.focal_form);
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

/// The focal form in bits 3-4 of `flags` (`FOCAL_FORM_SHIFT` in prelude.wgsl).
fn focal_form_bits(form: crate::loss::FocalForm) -> u32 {
    use crate::loss::FocalForm;
    let code = match form {
        FocalForm::Probability => 0,
        FocalForm::ExpBce => 1,
        FocalForm::LogSigmoid => 2,
        FocalForm::PerTerm => 3,
    };
    code << 3
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
pub const PARAMS_BYTES: u64 = std::mem::size_of::<Params>() as u64;
