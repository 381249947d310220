//! What a plan computes ([`PlanDesc`]: mode, shape, formats, terms) and the caller's
//! buffers and data it reads and writes ([`PlanIo`], [`LogitData`], [`TargetData`]).

use crate::batch::{self, InputKind, Shape};
use crate::error::{Error, Result};
use crate::input::{Layout, Mode};
use crate::term::Term;

/// How the logits are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LogitFormat {
    /// 4 bytes each.
    #[default]
    F32,
    /// IEEE half precision, 2 bytes each (two per 32-bit word, first in the low half).
    /// Decoded exactly with integer operations: no `SHADER_F16` feature needed.
    F16,
}

/// How the targets are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
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
    pub(crate) fn bytes(self) -> u64 {
        match self {
            TargetFormat::F32 | TargetFormat::Classes32 => 4,
            TargetFormat::Classes16 => 2,
            TargetFormat::U8 | TargetFormat::Classes8 => 1,
        }
    }

    pub(crate) fn is_class_map(self) -> bool {
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
    /// A binary plan for logits of dims `[N, H, W]` or `[N, 1, *spatial]`.
    pub fn binary(dims: &[usize], terms: Vec<Term>) -> Result<PlanDesc> {
        Ok(PlanDesc::with(Mode::Binary, Shape::from_dims(dims)?, 1, terms))
    }

    /// A multilabel plan for logits of dims `[N, C, *spatial]` (one sigmoid per channel).
    pub fn multilabel(dims: &[usize], terms: Vec<Term>) -> Result<PlanDesc> {
        let (shape, c) = batch::multilabel_shape(dims)?;
        Ok(PlanDesc::with(Mode::Multilabel, shape, c, terms))
    }

    /// A multiclass plan: logits `[N, C, *spatial]` (softmax over C; f32 or f16) and a class map
    /// `[N, *spatial]` in `map` (`Classes8`, `Classes16` or `Classes32`).
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

    pub(crate) fn layout(&self) -> Layout {
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

impl PlanDesc {
    /// Formats and ignore value against the mode.
    pub(crate) fn check_formats(&self) -> Result<()> {
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
