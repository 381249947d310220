//! Shapes, input kinds and the binary-mode input view, with the checks that need no pass
//! over the data. Data checks (finite logits, targets in [0, 1]) run inside the fused pass.

use crate::error::{Error, Result, Tensor};

/// What the prediction tensor holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InputKind {
    /// Raw scores; p = sigmoid(x), computed stably.
    #[default]
    Logits,
    /// Probabilities in [0, 1].
    Probabilities,
}

/// A batch of `n` images of `h × w` pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Images in the batch.
    pub n: usize,
    /// Rows.
    pub h: usize,
    /// Columns.
    pub w: usize,
}

impl Shape {
    /// Largest number of pixels in one image (the GPU indexes pixels of an image in u32).
    pub const MAX_PIXELS_PER_IMAGE: usize = 1 << 31;

    /// A shape from `[N, H, W]` or `[N, 1, H, W]`.
    pub fn from_dims(dims: &[usize]) -> Result<Shape> {
        let bad = |reason: &str| Error::InvalidShape { shape: dims.to_vec(), reason: reason.into() };
        let (n, h, w) = match *dims {
            [n, h, w] => (n, h, w),
            [n, 1, h, w] => (n, h, w),
            [_, _, _, _] => return Err(bad("binary mode needs one channel: [N, 1, H, W] or [N, H, W]")),
            _ => return Err(bad("expected [N, H, W] or [N, 1, H, W]")),
        };
        if n == 0 || h == 0 || w == 0 {
            return Err(bad("empty input: every dimension must be at least 1"));
        }
        let pixels = h.checked_mul(w).filter(|&p| p <= Self::MAX_PIXELS_PER_IMAGE);
        let total = pixels.and_then(|p| p.checked_mul(n));
        if total.is_none() {
            return Err(bad("too many pixels (at most 2^31 per image)"));
        }
        Ok(Shape { n, h, w })
    }

    /// Pixels per image.
    pub fn pixels(&self) -> usize {
        self.h * self.w
    }

    /// Elements in the batch.
    pub fn len(&self) -> usize {
        self.n * self.pixels()
    }

    /// Never true for a validated shape.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn dims(&self) -> Vec<usize> {
        vec![self.n, self.h, self.w]
    }
}

/// A binary-mode batch: predictions and targets of the same shape, borrowed from the caller.
#[derive(Debug, Clone, Copy)]
pub struct BinaryBatch<'a> {
    /// Logits (default) or probabilities, row-major `[N, H, W]`.
    pub input: &'a [f32],
    /// Targets in [0, 1] (hard or soft), or the ignore value.
    pub target: &'a [f32],
    /// The shape.
    pub shape: Shape,
    /// What `input` holds.
    pub input_kind: InputKind,
    /// Pixels whose target equals this value count nowhere.
    pub ignore: Option<f32>,
}

impl<'a> BinaryBatch<'a> {
    /// A batch of logits and targets with dims `[N, H, W]` or `[N, 1, H, W]`.
    pub fn new(input: &'a [f32], target: &'a [f32], dims: &[usize]) -> Result<Self> {
        let shape = Shape::from_dims(dims)?;
        for (tensor, len) in [(Tensor::Input, input.len()), (Tensor::Target, target.len())] {
            if len != shape.len() {
                return Err(Error::ShapeMismatch { tensor, shape: dims.to_vec(), expected: shape.len(), actual: len });
            }
        }
        Ok(BinaryBatch { input, target, shape, input_kind: InputKind::Logits, ignore: None })
    }

    /// The input holds probabilities instead of logits.
    pub fn probabilities(mut self) -> Self {
        self.input_kind = InputKind::Probabilities;
        self
    }

    /// Pixels whose target equals `value` are ignored (value must be finite).
    pub fn ignore_value(mut self, value: f32) -> Result<Self> {
        if !value.is_finite() {
            return Err(Error::InvalidParameter {
                loss: "BinaryBatch",
                param: "ignore",
                value: value as f64,
                reason: "the ignore value must be finite",
            });
        }
        self.ignore = Some(value);
        Ok(self)
    }

    /// Whether target `t` marks an ignored pixel.
    pub fn is_ignored(&self, t: f32) -> bool {
        self.ignore == Some(t)
    }

    /// The error for the first bad element found by a pass, given the flat index of the first
    /// bad input element and of the first bad target element (whichever comes first wins;
    /// the input on a tie).
    pub fn data_error(&self, bad_input: Option<usize>, bad_target: Option<usize>) -> Option<Error> {
        let pick = match (bad_input, bad_target) {
            (Some(i), Some(t)) if t < i => (Tensor::Target, t),
            (Some(i), _) => (Tensor::Input, i),
            (None, Some(t)) => (Tensor::Target, t),
            (None, None) => return None,
        };
        let (tensor, index) = pick;
        let (image, pixel) = (index / self.shape.pixels(), index % self.shape.pixels());
        let value = match tensor {
            Tensor::Input => self.input[index],
            Tensor::Target => self.target[index],
        };
        Some(if !value.is_finite() {
            Error::NonFinite { tensor, index, image, pixel, value }
        } else {
            let allowed = match (tensor, self.ignore) {
                (Tensor::Target, Some(ig)) => format!("[0, 1] or the ignore value {ig}"),
                _ => "[0, 1]".to_string(),
            };
            Error::OutOfRange { tensor, index, image, pixel, value, allowed }
        })
    }

    /// Dims as a vector, for error messages.
    pub fn dims(&self) -> Vec<usize> {
        self.shape.dims()
    }
}
