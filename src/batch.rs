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

/// A batch of `n` images, each with the same spatial dims: `[H, W]` for images, `[D, H, W]`
/// for volumes, any rank from 1 to [`Shape::MAX_SPATIAL_DIMS`]. The sum-based losses and
/// Lovasz treat an image's pixels (voxels) as one flat segment; the neighbourhood operations
/// (distance transforms) use the spatial dims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Images in the batch.
    pub n: usize,
    spatial: [usize; Shape::MAX_SPATIAL_DIMS],
    rank: usize,
}

impl Shape {
    /// Largest number of pixels in one image (the GPU indexes pixels of an image in u32).
    pub const MAX_PIXELS_PER_IMAGE: usize = 1 << 31;
    /// Most spatial dimensions.
    pub const MAX_SPATIAL_DIMS: usize = 6;

    /// `n` images of dims `spatial`; `dims` is what the caller passed, for the error.
    fn checked(n: usize, spatial: &[usize], dims: &[usize]) -> Result<Shape> {
        let bad = |reason: String| Error::InvalidShape { shape: dims.to_vec(), reason };
        if spatial.is_empty() || spatial.len() > Self::MAX_SPATIAL_DIMS {
            return Err(bad(format!(
                "{} spatial dimensions: 1 to {} are supported",
                spatial.len(),
                Self::MAX_SPATIAL_DIMS
            )));
        }
        if n == 0 || spatial.contains(&0) {
            return Err(bad("empty input: every dimension must be at least 1".into()));
        }
        let pixels =
            spatial.iter().try_fold(1usize, |p, &d| p.checked_mul(d)).filter(|&p| p <= Self::MAX_PIXELS_PER_IMAGE);
        if pixels.and_then(|p| p.checked_mul(n)).is_none() {
            return Err(bad("too many pixels (at most 2^31 per image)".into()));
        }
        let mut s = Shape { n, spatial: [1; Self::MAX_SPATIAL_DIMS], rank: spatial.len() };
        s.spatial[..spatial.len()].copy_from_slice(spatial);
        Ok(s)
    }

    /// `n` images of spatial dims `spatial` (`[H, W]`, `[D, H, W]`, …).
    pub fn new(n: usize, spatial: &[usize]) -> Result<Shape> {
        let dims: Vec<usize> = std::iter::once(n).chain(spatial.iter().copied()).collect();
        Self::checked(n, spatial, &dims)
    }

    /// A shape from binary dims: `[N, H, W]`, or `[N, 1, *spatial]` with one or more spatial
    /// dims (`[N, 1, H, W]`, `[N, 1, D, H, W]`, …). Rank 3 is always `[N, H, W]`.
    pub fn from_dims(dims: &[usize]) -> Result<Shape> {
        let bad = |reason: &str| Error::InvalidShape { shape: dims.to_vec(), reason: reason.into() };
        match *dims {
            [n, h, w] => Self::checked(n, &[h, w], dims),
            [n, 1, ref spatial @ ..] if !spatial.is_empty() => Self::checked(n, spatial, dims),
            [_, _, _, ..] => Err(bad("binary mode needs one channel: [N, 1, *spatial] or [N, H, W]")),
            _ => Err(bad("expected [N, H, W] or [N, 1, *spatial]")),
        }
    }

    /// The spatial dims of one image.
    pub fn spatial(&self) -> &[usize] {
        &self.spatial[..self.rank]
    }

    /// Pixels (voxels) per image.
    pub fn pixels(&self) -> usize {
        self.spatial().iter().product()
    }

    /// Elements in the batch.
    pub fn len(&self) -> usize {
        self.n * self.pixels()
    }

    /// Never true for a validated shape.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `[N, *spatial]`.
    pub fn dims(&self) -> Vec<usize> {
        std::iter::once(self.n).chain(self.spatial().iter().copied()).collect()
    }

    /// `[N, C, *spatial]`.
    pub fn dims_with_channels(&self, c: usize) -> Vec<usize> {
        [self.n, c].into_iter().chain(self.spatial().iter().copied()).collect()
    }
}

/// A binary or multilabel batch: predictions and targets of the same shape, borrowed from
/// the caller. Binary: `[N, H, W]` / `[N, 1, H, W]`; multilabel: `[N, C, H, W]` with an
/// independent sigmoid per channel (each (image, channel) plane is one segment).
#[derive(Debug, Clone, Copy)]
pub struct BinaryBatch<'a> {
    /// Logits (default) or probabilities, row-major `[N, C, H, W]`.
    pub input: &'a [f32],
    /// Targets in [0, 1] (hard or soft), or the ignore value.
    pub target: &'a [f32],
    /// The shape of one channel plane per image.
    pub shape: Shape,
    /// Channels C (1 for binary mode).
    pub channels: usize,
    /// What `input` holds.
    pub input_kind: InputKind,
    /// Pixels whose target equals this value count nowhere.
    pub ignore: Option<f32>,
}

/// The image shape and channel count of dims `[N, C, *spatial]` (multilabel and multiclass
/// logits; at least one spatial dim).
pub fn multilabel_shape(dims: &[usize]) -> Result<(Shape, usize)> {
    let [n, c, ref spatial @ ..] = *dims else {
        return Err(Error::InvalidShape { shape: dims.to_vec(), reason: "expected [N, C, *spatial]".into() });
    };
    if c == 0 {
        return Err(Error::InvalidShape { shape: dims.to_vec(), reason: "C = 0: no class".into() });
    }
    let shape = Shape::checked(n, spatial, dims)?;
    if shape.len().checked_mul(c).is_none() {
        return Err(Error::InvalidShape { shape: dims.to_vec(), reason: "too many elements".into() });
    }
    Ok((shape, c))
}

impl<'a> BinaryBatch<'a> {
    /// A batch of logits and targets with dims `[N, H, W]` or `[N, 1, *spatial]`
    /// (`[N, 1, H, W]`, volumes `[N, 1, D, H, W]`).
    pub fn new(input: &'a [f32], target: &'a [f32], dims: &[usize]) -> Result<Self> {
        let shape = Shape::from_dims(dims)?;
        Self::with_channels(input, target, dims, shape, 1)
    }

    /// A multilabel batch: logits and targets `[N, C, *spatial]`, one sigmoid per channel.
    pub fn multilabel(input: &'a [f32], target: &'a [f32], dims: &[usize]) -> Result<Self> {
        let (shape, c) = multilabel_shape(dims)?;
        Self::with_channels(input, target, dims, shape, c)
    }

    fn with_channels(
        input: &'a [f32],
        target: &'a [f32],
        dims: &[usize],
        shape: Shape,
        channels: usize,
    ) -> Result<Self> {
        let expected = shape.len() * channels;
        for (tensor, len) in [(Tensor::Input, input.len()), (Tensor::Target, target.len())] {
            if len != expected {
                return Err(Error::ShapeMismatch { tensor, shape: dims.to_vec(), expected, actual: len });
            }
        }
        Ok(BinaryBatch { input, target, shape, channels, input_kind: InputKind::Logits, ignore: None })
    }

    /// Segments of the fused pass: one per (image, channel) plane.
    pub fn segments(&self) -> usize {
        self.shape.n * self.channels
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
        let hw = self.shape.pixels();
        let (image, channel, pixel) = (index / (hw * self.channels), index / hw % self.channels, index % hw);
        let value = match tensor {
            Tensor::Input => self.input[index],
            Tensor::Target => self.target[index],
        };
        Some(if !value.is_finite() {
            Error::NonFinite { tensor, index, image, channel, pixel, value }
        } else {
            let allowed = match (tensor, self.ignore) {
                (Tensor::Target, Some(ig)) => format!("[0, 1] or the ignore value {ig}"),
                _ => "[0, 1]".to_string(),
            };
            Error::OutOfRange { tensor, index, image, channel, pixel, value, allowed }
        })
    }

    /// Dims `[N, C, *spatial]`.
    pub fn dims(&self) -> Vec<usize> {
        self.shape.dims_with_channels(self.channels)
    }
}

/// A class-index map `[N, H, W]`, in the narrowest type that holds the classes.
#[derive(Debug, Clone, Copy)]
pub enum ClassMap<'a> {
    /// One byte per pixel (read four to a u32 on the GPU).
    U8(&'a [u8]),
    /// Two bytes per pixel.
    U16(&'a [u16]),
    /// Four bytes per pixel.
    U32(&'a [u32]),
}

impl ClassMap<'_> {
    /// Pixels in the map.
    pub fn len(&self) -> usize {
        match self {
            ClassMap::U8(v) => v.len(),
            ClassMap::U16(v) => v.len(),
            ClassMap::U32(v) => v.len(),
        }
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The class at flat pixel index `i`.
    pub fn get(&self, i: usize) -> u32 {
        match self {
            ClassMap::U8(v) => v[i] as u32,
            ClassMap::U16(v) => v[i] as u32,
            ClassMap::U32(v) => v[i],
        }
    }

    /// Bytes per pixel.
    pub fn bytes_per_pixel(&self) -> usize {
        match self {
            ClassMap::U8(_) => 1,
            ClassMap::U16(_) => 2,
            ClassMap::U32(_) => 4,
        }
    }

    /// The raw bytes of pixels `range`.
    pub fn bytes(&self, range: std::ops::Range<usize>) -> &[u8] {
        match self {
            ClassMap::U8(v) => &v[range],
            ClassMap::U16(v) => bytemuck::cast_slice(&v[range]),
            ClassMap::U32(v) => bytemuck::cast_slice(&v[range]),
        }
    }
}

/// A multiclass batch: logits `[N, C, H, W]` (softmax over C per pixel) and a class map
/// `[N, H, W]`, with an optional `ignore_index` whose pixels count nowhere.
#[derive(Debug, Clone, Copy)]
pub struct MulticlassBatch<'a> {
    /// Logits, row-major `[N, C, H, W]`.
    pub logits: &'a [f32],
    /// Class indices, row-major `[N, H, W]`.
    pub target: ClassMap<'a>,
    /// Images and the plane size.
    pub shape: Shape,
    /// Classes C.
    pub classes: usize,
    /// Pixels of this class index are ignored.
    pub ignore_index: Option<u32>,
}

impl<'a> MulticlassBatch<'a> {
    /// Most classes supported (the C×C confusion matrix must fit one buffer binding).
    pub const MAX_CLASSES: usize = 4096;

    /// Logits `[N, C, *spatial]` and a class map `[N, *spatial]`.
    pub fn new(logits: &'a [f32], target: ClassMap<'a>, dims: &[usize]) -> Result<Self> {
        let (shape, c) = multilabel_shape(dims)?;
        if c > Self::MAX_CLASSES {
            return Err(Error::InvalidShape {
                shape: dims.to_vec(),
                reason: format!("C = {c}: the number of classes must be 1 to {}", Self::MAX_CLASSES),
            });
        }
        let expected = shape.len() * c;
        if logits.len() != expected {
            return Err(Error::ShapeMismatch {
                tensor: Tensor::Input,
                shape: dims.to_vec(),
                expected,
                actual: logits.len(),
            });
        }
        if target.len() != shape.len() {
            return Err(Error::ShapeMismatch {
                tensor: Tensor::Target,
                shape: shape.dims(),
                expected: shape.len(),
                actual: target.len(),
            });
        }
        Ok(MulticlassBatch { logits, target, shape, classes: c, ignore_index: None })
    }

    /// Pixels whose class is `index` are ignored (any value; need not be < C).
    pub fn ignore_index(mut self, index: u32) -> Self {
        self.ignore_index = Some(index);
        self
    }

    /// The error for the first bad pixel found by a pass: `bad_logit` / `bad_class` are flat
    /// pixel indices (`[N, H, W]` order); the earlier wins, the logits on a tie. For logits,
    /// the first non-finite channel of that pixel is reported.
    pub fn data_error(&self, bad_logit: Option<usize>, bad_class: Option<usize>) -> Option<Error> {
        let hw = self.shape.pixels();
        let c = self.classes;
        match (bad_logit, bad_class) {
            (Some(p), b) if b.is_none_or(|b| p <= b) => {
                let (image, pixel) = (p / hw, p % hw);
                let channel = (0..c).find(|&k| !self.logits[(image * c + k) * hw + pixel].is_finite()).unwrap_or(0);
                let index = (image * c + channel) * hw + pixel;
                Some(Error::NonFinite {
                    tensor: Tensor::Input,
                    index,
                    image,
                    channel,
                    pixel,
                    value: self.logits[index],
                })
            }
            (_, Some(b)) => Some(Error::OutOfRange {
                tensor: Tensor::Target,
                index: b,
                image: b / hw,
                channel: 0,
                pixel: b % hw,
                value: self.target.get(b) as f32,
                allowed: match self.ignore_index {
                    Some(ig) => format!("class indices 0..{c} or ignore_index {ig}"),
                    None => format!("class indices 0..{c}"),
                },
            }),
            _ => None,
        }
    }
}
