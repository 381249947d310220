//! Peer-compatible presets: the losses of segmentation_models_pytorch (smp) 0.6.0, MONAI 1.6.1,
//! kornia 0.9.0 and torchvision 0.29.2 under their own names, keyword arguments and defaults,
//! mapped onto segloss's losses and options so that they give the peers' numbers.
//!
//! A preset is parsed from its name (`"smp.DiceLoss"`, `"monai.DiceCELoss"`, …) and its
//! keyword arguments as JSON ([`Preset::parse`]); an unknown name or keyword is an `Err`
//! listing the accepted ones, and a value that segloss cannot reproduce exactly is an `Err`
//! naming the keyword and the value. A preset resolves, for a given number of channels, to
//! [`Part`]s: each says how to read the arrays ([`InputSpec`]: sigmoid, softmax or
//! probabilities; float targets, class maps or class maps one-hot encoded; the ignore value)
//! and which [`Term`]s to evaluate on them, with a weight that may depend on the batch's
//! dimensions ([`Scale`], e.g. a mean over every element including ignored ones).
//! [`evaluate`] runs the parts on an [`Engine`] and sums them.

mod kornia;
mod kw;
mod monai;
mod native;
mod smp;
mod torchvision;

pub(crate) use kw::Kw;

use crate::batch::{BinaryBatch, ClassMap, MulticlassBatch, Shape};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::input::{Input, Mode};
use crate::term::Term;
use serde_json::{Map, Value};

/// How the prediction array is turned into probabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// Logits, one sigmoid per channel (binary / multilabel).
    Sigmoid,
    /// Logits, softmax over the channels (multiclass).
    Softmax,
    /// The array holds probabilities (binary / multilabel).
    Probabilities,
}

/// How the target array is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    /// Float targets of the prediction's shape (`[N,H,W]` also accepted for one channel).
    Float,
    /// A class map `[N,H,W]` or `[N,1,H,W]` (integers, or floats with integral values); a
    /// one-hot float target of the prediction's shape is accepted too.
    ClassMap,
    /// A class map encoded one-hot into float targets of the prediction's shape (sigmoid or
    /// probabilities over one-hot targets); a float target of that shape is used as is.
    OneHot,
}

/// How a part reads the arrays.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InputSpec {
    /// The prediction's activation.
    pub activation: Activation,
    /// The target's layout.
    pub target: TargetKind,
    /// Target value whose pixels are ignored.
    pub ignore: Option<f64>,
}

/// A weight factor from the batch's dimensions: `N^images · C'^classes · (H·W)^pixels`, with
/// C' = C − `dropped_classes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Scale {
    /// Exponent of the number of images N.
    pub images: i32,
    /// Exponent of the number of classes C'.
    pub classes: i32,
    /// Exponent of the pixels per image H·W.
    pub pixels: i32,
    /// Classes not counted in C'.
    pub dropped_classes: usize,
}

impl Scale {
    /// The factor for a batch of `n` images, `c` channels and `hw` pixels per image.
    pub fn factor(&self, n: usize, c: usize, hw: usize) -> f64 {
        let c = c.saturating_sub(self.dropped_classes).max(1);
        (n as f64).powi(self.images) * (c as f64).powi(self.classes) * (hw as f64).powi(self.pixels)
    }

    /// 1/(N·C·H·W): a mean over every element, ignored ones included.
    pub fn per_element() -> Scale {
        Scale { images: -1, classes: -1, pixels: -1, dropped_classes: 0 }
    }

    /// 1/(N·H·W): a mean over every pixel, ignored ones included.
    pub fn per_pixel() -> Scale {
        Scale { images: -1, pixels: -1, ..Scale::default() }
    }
}

/// A term of a part, with its dimension-dependent weight factor.
#[derive(Debug, Clone, PartialEq)]
pub struct PartTerm {
    /// What the term is called in reports (the peer's part name).
    pub name: String,
    /// The segloss term (its weight is multiplied by the scale's factor).
    pub term: Term,
    /// The weight factor.
    pub scale: Scale,
}

/// Terms evaluated together on one reading of the arrays.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    /// How the arrays are read.
    pub input: InputSpec,
    /// The terms.
    pub terms: Vec<PartTerm>,
    /// Only this channel of the prediction and of the (float or one-hot) targets, as a binary
    /// batch (a per-channel parameter as one part per channel); its gradient goes to that channel.
    pub channel: Option<usize>,
    /// A map applied to the prediction before the activation (its derivative is chained).
    pub transform: Transform,
    /// Read channels 1..C only (MONAI's `include_background=False` before a softmax): the
    /// softmax runs over them, and pixels of class 0 belong to no class (no loss, no gradient).
    pub drop_background: bool,
    /// The part is exact only for targets in {0, 1} (or ignored): others are an error
    /// saying why (the reason given here).
    pub hard_targets: Option<&'static str>,
}

/// A map of the prediction array applied before the activation.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Transform {
    /// The array as it is.
    #[default]
    Identity,
    /// `ln(p/(1−p))` of p clamped to [eps, 1−eps] (smp's FocalLoss with `from_logits=False`,
    /// binary and multilabel); zero derivative where the clamp is active.
    ClampedLogit(f64),
    /// `ln p` of p clamped to [eps, 1−eps] (the same, multiclass).
    ClampedLog(f64),
}

impl Transform {
    /// The mapped value and its derivative.
    fn apply(&self, x: f64) -> (f64, f64) {
        let clamp = |eps: f64| (x.clamp(eps, 1.0 - eps), if x >= eps && x <= 1.0 - eps { 1.0 } else { 0.0 });
        match *self {
            Transform::Identity => (x, 1.0),
            Transform::ClampedLogit(eps) => {
                let (p, d) = clamp(eps);
                ((p / (1.0 - p)).ln(), d / (p * (1.0 - p)))
            }
            Transform::ClampedLog(eps) => {
                let (p, d) = clamp(eps);
                (p.ln(), d / p)
            }
        }
    }
}

/// A parsed preset: a peer loss or a segloss loss with its keyword arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct Preset {
    /// The name as given.
    pub name: String,
    params: Map<String, Value>,
    kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Smp(smp::Class),
    Monai(monai::Class),
    Kornia(kornia::Function),
    TorchVision,
    Native(native::Name),
}

/// Every accepted preset name.
pub fn names() -> Vec<String> {
    let mut v: Vec<String> = smp::NAMES.iter().map(|n| format!("smp.{n}")).collect();
    v.extend(monai::NAMES.iter().map(|n| format!("monai.{n}")));
    v.extend(kornia::NAMES.iter().map(|n| format!("kornia.{n}")));
    v.push("torchvision.sigmoid_focal_loss".into());
    v.extend(native::names().into_iter().map(String::from));
    v
}

impl Preset {
    /// A preset from its name and its keyword arguments (a JSON object; `null` = none).
    pub fn parse(name: &str, params: &Value) -> Result<Preset> {
        let params = match params {
            Value::Null => Map::new(),
            Value::Object(m) => m.clone(),
            other => return Err(bad(format!("{name}: keyword arguments must be a JSON object, got {other}"))),
        };
        let unknown = || bad(format!("unknown loss '{name}'; accepted: {}", names().join(", ")));
        let kind = match name.split_once('.') {
            Some(("smp", n)) => Kind::Smp(smp::class(n).ok_or_else(unknown)?),
            Some(("monai", n)) => Kind::Monai(monai::class(n).ok_or_else(unknown)?),
            Some(("kornia", n)) => Kind::Kornia(kornia::function(n).ok_or_else(unknown)?),
            Some(("torchvision", "sigmoid_focal_loss")) => Kind::TorchVision,
            Some(_) => return Err(unknown()),
            None => Kind::Native(native::name(name).ok_or_else(unknown)?),
        };
        let preset = Preset { name: name.to_string(), params, kind };
        let allowed = preset.keywords();
        if let Some(k) = preset.params.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(bad(format!("{name}: unknown keyword '{k}'; accepted: {}", allowed.join(", "))));
        }
        // Values are checked here for some channel count (class-wise lists fix it) and again
        // when resolved for the batch's channels.
        let typical = if preset.is_single_channel() { 1 } else { 3 };
        let first = preset.parts(typical);
        if first.is_err() && (1..=64).any(|c| preset.parts(c).is_ok()) {
            return Ok(preset);
        }
        first?;
        Ok(preset)
    }

    /// The keyword arguments this preset accepts.
    pub fn keywords(&self) -> Vec<&'static str> {
        match self.kind {
            Kind::Smp(c) => smp::keywords(c),
            Kind::Monai(c) => monai::keywords(c),
            Kind::Kornia(f) => kornia::keywords(f),
            Kind::TorchVision => torchvision::KEYWORDS.to_vec(),
            Kind::Native(n) => native::keywords(n),
        }
    }

    fn is_single_channel(&self) -> bool {
        match self.kind {
            Kind::Smp(c) => smp::is_single_channel(c, &self.kw()),
            Kind::Kornia(f) => f == kornia::Function::LovaszHinge,
            Kind::Native(_) => native::is_single_channel(&self.kw()),
            _ => false,
        }
    }

    fn kw(&self) -> Kw<'_> {
        Kw { preset: &self.name, map: &self.params }
    }

    /// The parts for a prediction with `channels` channels.
    pub fn parts(&self, channels: usize) -> Result<Vec<Part>> {
        let kw = self.kw();
        match self.kind {
            Kind::Smp(c) => smp::parts(c, &kw, channels),
            Kind::Monai(c) => monai::parts(c, &kw, channels),
            Kind::Kornia(f) => kornia::parts(f, &kw, channels),
            Kind::TorchVision => torchvision::parts(&kw, channels),
            Kind::Native(n) => native::parts(n, &kw, channels),
        }
    }
}

/// The largest magnitude of a keyword's number, and of a logit (see [`evaluate`]).
pub const PARAM_LIMIT: f64 = 1e12;

pub(crate) fn bad(msg: String) -> Error {
    Error::InvalidRequest(msg)
}

/// A prediction or target array: its dims and elements.
#[derive(Debug, Clone, PartialEq)]
pub enum Array {
    /// Floating-point elements (f16/f32/f64 widened or narrowed by the reader).
    Float(Vec<usize>, Vec<f64>),
    /// Integer elements (class maps).
    Int(Vec<usize>, Vec<i64>),
}

impl Array {
    /// Dims.
    pub fn dims(&self) -> &[usize] {
        match self {
            Array::Float(d, _) | Array::Int(d, _) => d,
        }
    }

    fn len(&self) -> usize {
        match self {
            Array::Float(_, v) => v.len(),
            Array::Int(_, v) => v.len(),
        }
    }

    fn value(&self, i: usize) -> f64 {
        match self {
            Array::Float(_, v) => v[i],
            Array::Int(_, v) => v[i] as f64,
        }
    }
}

/// The result of evaluating parts.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// Σ weight·value over every term of every part.
    pub total: f64,
    /// Each term's name and weighted value (weight and scale applied), in order.
    pub terms: Vec<(String, f64)>,
    /// d(total)/d(prediction), in the prediction's layout (with `grad`).
    pub grad: Option<Vec<f64>>,
}

/// A prediction's dims `[N, C, *spatial]`: images, channels, and one or more spatial dims
/// (`[L]`, `[H, W]`, `[D, H, W]`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PredictionDims {
    /// Images.
    pub n: usize,
    /// Channels (classes).
    pub c: usize,
    /// The spatial dims of one image.
    pub spatial: Vec<usize>,
}

impl PredictionDims {
    /// Pixels (voxels) per image.
    pub fn pixels(&self) -> usize {
        self.spatial.iter().product()
    }

    /// `[N, c, *spatial]` with `c` channels.
    fn with_channels(&self, c: usize) -> Vec<usize> {
        [self.n, c].into_iter().chain(self.spatial.iter().copied()).collect()
    }

    /// `[N, *spatial]`, the dims of a class map.
    fn map(&self) -> Vec<usize> {
        std::iter::once(self.n).chain(self.spatial.iter().copied()).collect()
    }
}

/// `[N, C, *spatial]` of a prediction of dims `dims` (3-D and more).
pub fn prediction_dims(dims: &[usize]) -> Result<PredictionDims> {
    match *dims {
        _ if dims.contains(&0) => Err(bad(format!("the prediction has shape {dims:?}: no dimension may be 0"))),
        [n, c, ref spatial @ ..] if !spatial.is_empty() && spatial.len() <= Shape::MAX_SPATIAL_DIMS => {
            Ok(PredictionDims { n, c, spatial: spatial.to_vec() })
        }
        _ => Err(bad(format!(
            "the prediction must be [N, C, *spatial] with 1 to {} spatial dims ([N, C, H, W], [N, C, D, H, W], …); got {dims:?}",
            Shape::MAX_SPATIAL_DIMS
        ))),
    }
}

/// Values that would not survive the GPU's f32 arithmetic are an error saying so: a float64
/// value outside the f32 range (it would become ±inf), and for logits a magnitude above
/// [`PARAM_LIMIT`] (sums of such values overflow f32 to NaN where the reference stays finite).
/// NaN and ±inf themselves are left to the engine, which names the first one.
fn check_values(values: &[f64], what: &str, logits: bool) -> Result<()> {
    let limit = if logits { PARAM_LIMIT } else { f32::MAX as f64 };
    match values.iter().enumerate().find(|(_, x)| x.is_finite() && x.abs() > limit) {
        None => Ok(()),
        Some((i, x)) if x.abs() > f32::MAX as f64 => {
            Err(bad(format!("{what}: value {x:e} at flat index {i} is outside the f32 range (|x| <= 3.4e38)")))
        }
        Some((i, x)) => Err(bad(format!(
            "{what}: logit {x:e} at flat index {i} is outside the accepted range [-{PARAM_LIMIT:e}, {PARAM_LIMIT:e}]"
        ))),
    }
}

/// Runs every part on `engine` and sums values (and, with `grad`, gradients).
pub fn evaluate(engine: &Engine, parts: &[Part], prediction: &Array, target: &Array, grad: bool) -> Result<Evaluation> {
    let Array::Float(pdims, pvals) = prediction else {
        return Err(bad("the prediction must be a float array".into()));
    };
    let pd = prediction_dims(pdims)?;
    let (n, c, hw) = (pd.n, pd.c, pd.pixels());
    check_values(pvals, "predictions", parts.iter().any(|p| p.input.activation != Activation::Probabilities))?;
    if let Array::Float(_, t) = target {
        check_values(t, "targets", false)?;
    }
    let mut total = 0.0;
    let mut names = Vec::new();
    let mut sum_grad = grad.then(|| vec![0.0f64; pvals.len()]);
    for part in parts {
        let mapped: Vec<(f64, f64)> = pvals.iter().map(|&x| part.transform.apply(x)).collect();
        let terms: Vec<Term> = part
            .terms
            .iter()
            .map(|t| {
                let mut term = t.term.clone();
                term.weight *= t.scale.factor(n, c, hw);
                term
            })
            .collect();
        let mut built = BuiltTarget::new(&part.input, target, &pd)?;
        // The channels this part reads (all; one; or all but the background).
        let kept: Vec<usize> = match (part.channel, part.drop_background) {
            (Some(k), _) => vec![k],
            (None, true) => (1..c).collect(),
            (None, false) => (0..c).collect(),
        };
        let ck = kept.len();
        let full_index = |j: usize| ((j / hw / ck) * c + kept[j / hw % ck]) * hw + j % hw;
        let logits: Vec<f32> = (0..n * ck * hw).map(|j| mapped[full_index(j)].0 as f32).collect();
        if ck < c {
            built = match built {
                BuiltTarget::Float(t, ig) => {
                    BuiltTarget::Float((0..n * ck * hw).map(|j| t[full_index(j)]).collect(), ig)
                }
                // Without the background channel, its pixels belong to no class: no loss, no gradient.
                BuiltTarget::Classes(labels, _) => BuiltTarget::Classes(
                    labels.into_iter().map(|l| if l == 0 || l == IGNORED { IGNORED } else { l - 1 }).collect(),
                    true,
                ),
            };
        }
        let dims = pd.with_channels(ck);
        if let (Some(why), BuiltTarget::Float(t, ig)) = (part.hard_targets, &built) {
            if let Some((i, v)) = t.iter().enumerate().find(|(_, &v)| v != 0.0 && v != 1.0 && Some(v) != *ig) {
                return Err(bad(format!("targets: value {v} at flat index {i} of channel set {kept:?}: {why}")));
            }
        }
        let input = built.input(&part.input, &logits, &dims)?;
        let (values, g) = if grad {
            let vg = engine.value_and_grad(input, &terms)?;
            (vg.forward.values, Some(vg.grad))
        } else {
            (engine.forward(input, &terms)?.values, None)
        };
        for ((t, term), v) in part.terms.iter().zip(&terms).zip(values) {
            total += term.weight * v;
            names.push((t.name.clone(), term.weight * v));
        }
        if let (Some(acc), Some(g)) = (sum_grad.as_mut(), g) {
            for (j, b) in g.into_iter().enumerate() {
                let at = full_index(j);
                acc[at] += b as f64 * mapped[at].1;
            }
        }
    }
    Ok(Evaluation { total, terms: names, grad: sum_grad })
}

/// Ignored pixels of a class map (and of one-hot targets) use this class index.
const IGNORED: u32 = u32::MAX;

enum BuiltTarget {
    Float(Vec<f32>, Option<f32>),
    Classes(Vec<u32>, bool),
}

impl BuiltTarget {
    fn new(spec: &InputSpec, target: &Array, pd: &PredictionDims) -> Result<BuiltTarget> {
        let tdims = target.dims();
        let (n, c, hw) = (pd.n, pd.c, pd.pixels());
        // Shapes must match exactly (a transposed or reshaped target of the same size would
        // pair misaligned pixels); the one equivalence: a class map [N, *spatial] ≡ [N, 1, *spatial].
        let full = tdims == pd.with_channels(c);
        let map_shape = tdims == pd.map() || tdims == pd.with_channels(1);
        let ignore = spec.ignore;
        let shape_err = |what: &str| {
            bad(format!("targets of shape {tdims:?} do not fit predictions {:?}: {what}", pd.with_channels(c)))
        };
        match spec.target {
            TargetKind::Float | TargetKind::OneHot if full || (c == 1 && map_shape) => {
                let v: Vec<f32> = (0..target.len()).map(|i| target.value(i) as f32).collect();
                Ok(BuiltTarget::Float(v, ignore.map(|x| x as f32)))
            }
            TargetKind::Float => Err(shape_err("expected the prediction's shape")),
            TargetKind::OneHot | TargetKind::ClassMap if map_shape => {
                let labels = class_labels(target, ignore, c)?;
                if spec.target == TargetKind::ClassMap {
                    return Ok(BuiltTarget::Classes(labels, ignore.is_some()));
                }
                let sentinel = ignore.map(|x| x as f32);
                let mut v = vec![0.0f32; n * c * hw];
                for i in 0..n {
                    for p in 0..hw {
                        let l = labels[i * hw + p];
                        for k in 0..c {
                            v[(i * c + k) * hw + p] = match (l, sentinel) {
                                (IGNORED, Some(s)) => s,
                                _ => (l as usize == k) as u8 as f32,
                            };
                        }
                    }
                }
                Ok(BuiltTarget::Float(v, sentinel))
            }
            TargetKind::ClassMap if full => {
                // One-hot float targets → class indices (soft targets cannot feed a softmax loss).
                let mut labels = vec![0u32; n * hw];
                for i in 0..n {
                    for p in 0..hw {
                        let col: Vec<f64> = (0..c).map(|k| target.value((i * c + k) * hw + p)).collect();
                        let ones = col.iter().filter(|&&x| x == 1.0).count();
                        let zeros = col.iter().filter(|&&x| x == 0.0).count();
                        if ones != 1 || ones + zeros != c {
                            return Err(shape_err(
                                "a softmax loss needs class indices or one-hot targets (soft targets are not supported)",
                            ));
                        }
                        labels[i * hw + p] = col.iter().position(|&x| x == 1.0).unwrap_or(0) as u32;
                    }
                }
                Ok(BuiltTarget::Classes(labels, false))
            }
            _ => Err(shape_err("expected a class map [N, *spatial] or [N, 1, *spatial]")),
        }
    }

    fn input<'a>(&'a self, spec: &InputSpec, logits: &'a [f32], dims: &[usize]) -> Result<Input<'a>> {
        match self {
            BuiltTarget::Float(t, ignore) => {
                if spec.activation == Activation::Softmax {
                    return Err(bad("internal: a softmax part needs a class map".into()));
                }
                let mut b = if dims[1] == 1 {
                    BinaryBatch::new(logits, t, dims)?
                } else {
                    BinaryBatch::multilabel(logits, t, dims)?
                };
                if spec.activation == Activation::Probabilities {
                    b = b.probabilities();
                }
                if let Some(ig) = ignore {
                    b = b.ignore_value(*ig)?;
                }
                Ok(Input::Binary(b))
            }
            BuiltTarget::Classes(labels, ignored) => {
                if spec.activation != Activation::Softmax {
                    return Err(bad("internal: a class map needs a softmax part".into()));
                }
                let mut b = MulticlassBatch::new(logits, ClassMap::U32(labels), dims)?;
                if *ignored {
                    b = b.ignore_index(IGNORED);
                }
                Ok(Input::Multiclass(b))
            }
        }
    }
}

/// Class indices of a class map; the ignore value maps to `IGNORED`; a negative, fractional or
/// non-finite label that is not the ignore value is an error.
fn class_labels(target: &Array, ignore: Option<f64>, classes: usize) -> Result<Vec<u32>> {
    (0..target.len())
        .map(|i| {
            let v = target.value(i);
            if Some(v) == ignore {
                Ok(IGNORED)
            } else if v >= 0.0 && v.fract() == 0.0 && v < classes as f64 {
                Ok(v as u32)
            } else {
                let why = match ignore {
                    Some(ig) => format!("not a class index 0..{classes} nor ignore_index {ig}"),
                    None => format!("not a class index 0..{classes} (no ignore_index set)"),
                };
                Err(bad(format!("targets: label {v} at flat index {i} is {why}")))
            }
        })
        .collect()
}

/// The mode a part's input gives for `channels` channels.
pub fn mode(spec: &InputSpec, channels: usize) -> Mode {
    match (spec.activation, channels) {
        (Activation::Softmax, _) => Mode::Multiclass,
        (_, 1) => Mode::Binary,
        _ => Mode::Multilabel,
    }
}

/// A part with one term.
pub(crate) fn part(input: InputSpec, name: &str, term: Term, scale: Scale) -> Part {
    Part {
        input,
        terms: vec![PartTerm { name: name.to_string(), term, scale }],
        channel: None,
        transform: Transform::Identity,
        drop_background: false,
        hard_targets: None,
    }
}
