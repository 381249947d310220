//! [`SegLoss`]: a loss (segloss terms, mode, input options) applied to burn tensors.

use crate::device::{self, Attached};
use crate::ops::SeglossBackend;
use crate::plans::{self, PlanKey};
use crate::Error;
use burn::backend::Dispatch;
use burn::tensor::{DType, FloatDType, Int, IntDType, Tensor};
use segloss::{LogitFormat, Mode, PlanDesc, TargetFormat, Term};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

static NEXT_LOSS: AtomicU64 = AtomicU64::new(0);

/// A weighted sum of segloss terms over burn tensors, with its mode and input options.
///
/// - Binary: logits `[N, 1, *spatial]` or `[N, H, W]`, float targets of the same shape.
/// - Multilabel: logits `[N, C, *spatial]` (a sigmoid per channel), float targets alike.
/// - Multiclass: logits `[N, C, *spatial]` (softmax over C) and an integer class map
///   `[N, *spatial]` or `[N, 1, *spatial]` ([`SegLoss::forward_classes`]).
///
/// Logits may be f32 or f16 (other float types are cast to f32 first, inside burn's graph);
/// float targets are read as f32; class maps as u8, u16, u32 or i32 (other integer types are
/// cast to i32). Class indices must lie in `0..C` (or be the ignored index) and float targets
/// in [0, 1]: values outside make the loss NaN, as segloss's plans do.
///
/// Plans are cached per device, shape and format, so the first call with a new shape
/// compiles and later ones only record.
#[derive(Debug, Clone)]
pub struct SegLoss {
    mode: Mode,
    terms: Vec<Term>,
    probabilities: bool,
    ignore: Option<f32>,
    /// Names this configuration in the plan cache (a new one for every change).
    id: u64,
}

/// The plan's format for logits of `dtype`; `None` for a type it does not read (cast to f32).
fn logit_format(dtype: DType) -> Option<LogitFormat> {
    match dtype {
        DType::F32 => Some(LogitFormat::F32),
        DType::F16 => Some(LogitFormat::F16),
        _ => None,
    }
}

impl SegLoss {
    fn new(mode: Mode, terms: Vec<Term>) -> SegLoss {
        SegLoss { mode, terms, probabilities: false, ignore: None, id: NEXT_LOSS.fetch_add(1, Ordering::Relaxed) }
    }

    fn changed(mut self) -> SegLoss {
        self.id = NEXT_LOSS.fetch_add(1, Ordering::Relaxed);
        self
    }

    /// One sigmoid channel.
    pub fn binary(terms: Vec<Term>) -> SegLoss {
        SegLoss::new(Mode::Binary, terms)
    }

    /// C independent sigmoid channels.
    pub fn multilabel(terms: Vec<Term>) -> SegLoss {
        SegLoss::new(Mode::Multilabel, terms)
    }

    /// Softmax over C classes, against a class map.
    pub fn multiclass(terms: Vec<Term>) -> SegLoss {
        SegLoss::new(Mode::Multiclass, terms)
    }

    /// Binary and multilabel: the input holds probabilities in [0, 1], not logits.
    pub fn probabilities(mut self) -> SegLoss {
        self.probabilities = true;
        self.changed()
    }

    /// Binary and multilabel: pixels whose target equals `value` are ignored.
    pub fn ignore_value(mut self, value: f32) -> SegLoss {
        self.ignore = Some(value);
        self.changed()
    }

    /// Multiclass: pixels of class `index` are ignored.
    pub fn ignore_index(mut self, index: u32) -> SegLoss {
        self.ignore = Some(index as f32);
        self.changed()
    }

    /// The total loss, shape `[1]`. On an autodiff device with tracked logits, the gradient is
    /// computed in the same pass and `backward()` reaches the logits through it.
    pub fn forward<const D: usize>(&self, logits: Tensor<D>, targets: Tensor<D>) -> Result<Tensor<1>, Error> {
        let (logits, targets, plan, plan_grad) = self.prepare_float(logits, targets)?;
        let total = Dispatch::segloss_total(logits.into_dispatch(), targets.into_dispatch(), plan, plan_grad);
        Ok(Tensor::from_dispatch(total))
    }

    /// `[total, each term's value…]`, never tracked (for logging and metrics).
    pub fn values<const D: usize>(&self, logits: Tensor<D>, targets: Tensor<D>) -> Result<Tensor<1>, Error> {
        let (logits, targets, plan, _) = self.prepare_float(logits, targets)?;
        let values = Dispatch::segloss_values(logits.detach().into_dispatch(), targets.into_dispatch(), plan);
        Ok(Tensor::from_dispatch(values))
    }

    /// [`SegLoss::forward`] of a multiclass loss: logits `[N, C, *spatial]`, class map `[N,
    /// *spatial]` or `[N, 1, *spatial]`.
    pub fn forward_classes<const D: usize, const E: usize>(
        &self,
        logits: Tensor<D>,
        classes: Tensor<E, Int>,
    ) -> Result<Tensor<1>, Error> {
        let (logits, classes, plan, plan_grad) = self.prepare_classes(logits, classes)?;
        let total = Dispatch::segloss_total_classes(logits.into_dispatch(), classes.into_dispatch(), plan, plan_grad);
        Ok(Tensor::from_dispatch(total))
    }

    /// [`SegLoss::values`] of a multiclass loss.
    pub fn values_classes<const D: usize, const E: usize>(
        &self,
        logits: Tensor<D>,
        classes: Tensor<E, Int>,
    ) -> Result<Tensor<1>, Error> {
        let (logits, classes, plan, _) = self.prepare_classes(logits, classes)?;
        let values = Dispatch::segloss_values_classes(logits.detach().into_dispatch(), classes.into_dispatch(), plan);
        Ok(Tensor::from_dispatch(values))
    }

    /// Checks a binary or multilabel call; casts logits to f32 unless f32 or f16, and targets
    /// to f32; returns the plans without and with a gradient.
    #[allow(clippy::type_complexity)]
    fn prepare_float<const D: usize>(
        &self,
        logits: Tensor<D>,
        targets: Tensor<D>,
    ) -> Result<(Tensor<D>, Tensor<D>, u64, u64), Error> {
        if self.mode == Mode::Multiclass {
            return Err(Error::Input(
                "a multiclass loss reads a class map: call forward_classes / values_classes".into(),
            ));
        }
        let (logits, format, attached) = self.checked_logits(logits)?;
        if targets.dims() != logits.dims() {
            return Err(Error::Input(format!(
                "targets {:?} do not match logits {:?} (binary and multilabel losses take targets of the logits' shape)",
                targets.dims(),
                logits.dims()
            )));
        }
        if targets.device() != logits.device() {
            return Err(Error::Input(format!(
                "targets on {:?}, logits on {:?}: both must be on one device",
                targets.device(),
                logits.device()
            )));
        }
        let targets = if targets.dtype() == DType::F32 { targets } else { targets.cast(FloatDType::F32) };
        let (plan, plan_grad) = self.plans(&attached, &logits.dims(), format, TargetFormat::F32)?;
        Ok((logits, targets, plan, plan_grad))
    }

    /// Checks a multiclass call; casts the class map to i32 unless u8, u16, u32 or i32.
    #[allow(clippy::type_complexity)]
    fn prepare_classes<const D: usize, const E: usize>(
        &self,
        logits: Tensor<D>,
        classes: Tensor<E, Int>,
    ) -> Result<(Tensor<D>, Tensor<E, Int>, u64, u64), Error> {
        if self.mode != Mode::Multiclass {
            return Err(Error::Input(format!(
                "a {:?} loss reads float targets of the logits' shape: call forward / values",
                self.mode
            )));
        }
        let (logits, logit_format, attached) = self.checked_logits(logits)?;
        let (l, c) = (logits.dims(), classes.dims());
        let spatial = &l[2.min(l.len())..];
        let fits = (E + 1 == D && c[0] == l[0] && &c[1..] == spatial)
            || (E == D && c[0] == l[0] && c[1] == 1 && &c[2..] == spatial);
        if D < 3 || !fits {
            return Err(Error::Input(format!(
                "class map {c:?} does not fit logits {l:?}: logits [N, C, *spatial] take a class map \
                 [N, *spatial] or [N, 1, *spatial]"
            )));
        }
        if classes.device() != logits.device() {
            return Err(Error::Input(format!(
                "class map on {:?}, logits on {:?}: both must be on one device",
                classes.device(),
                logits.device()
            )));
        }
        let (classes, format) = match classes.dtype() {
            DType::U8 => (classes, TargetFormat::Classes8),
            DType::U16 => (classes, TargetFormat::Classes16),
            DType::U32 | DType::I32 => (classes, TargetFormat::Classes32),
            _ => (classes.cast(IntDType::I32), TargetFormat::Classes32),
        };
        let (plan, plan_grad) = self.plans(&attached, &l, logit_format, format)?;
        Ok((logits, classes, plan, plan_grad))
    }

    /// The logits as the plan reads them (f32 or f16), their format and their shared device.
    fn checked_logits<const D: usize>(
        &self,
        logits: Tensor<D>,
    ) -> Result<(Tensor<D>, LogitFormat, Arc<Attached>), Error> {
        let attached = device::find(&logits.device())?;
        if D < 2 {
            return Err(Error::Input(format!("logits of rank {D}: segmentation logits are [N, C, *spatial]")));
        }
        Ok(match logit_format(logits.dtype()) {
            Some(format) => (logits, format, attached),
            None => (logits.cast(FloatDType::F32), LogitFormat::F32, attached),
        })
    }

    /// The plans (without, with a gradient) for this loss on `dims`, made now so that every
    /// refusal is an `Err` here rather than a panic inside burn's operation.
    fn plans(
        &self,
        attached: &Arc<Attached>,
        dims: &[usize],
        logits: LogitFormat,
        targets: TargetFormat,
    ) -> Result<(u64, u64), Error> {
        let one = |gradient: bool| {
            let key = PlanKey { device: attached.index, loss: self.id, dims: dims.to_vec(), logits, targets, gradient };
            plans::plan_for(key, attached, || -> Result<PlanDesc, Error> {
                let terms = self.terms.clone();
                let mut desc = match self.mode {
                    Mode::Binary => PlanDesc::binary(dims, terms)?,
                    Mode::Multilabel => PlanDesc::multilabel(dims, terms)?,
                    Mode::Multiclass => PlanDesc::multiclass(dims, targets, terms)?,
                };
                desc = desc.logit_format(logits).target_format(targets);
                if self.probabilities {
                    desc = desc.probabilities();
                }
                if let Some(v) = self.ignore {
                    desc = desc.ignore_value(v);
                }
                Ok(if gradient { desc.with_gradient() } else { desc })
            })
        };
        Ok((one(false)?, one(true)?))
    }
}
