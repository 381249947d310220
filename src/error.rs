//! The error type. Every wrong input, unusable parameter or GPU failure becomes an
//! [`Error`] whose message says what went wrong and where; nothing in segloss panics on
//! bad input or returns a silently wrong number.

/// Which input tensor an error refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tensor {
    /// The predictions: logits (default) or probabilities.
    Input,
    /// The targets (ground truth).
    Target,
}

impl std::fmt::Display for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Tensor::Input => "input",
            Tensor::Target => "target",
        })
    }
}

/// Everything that can go wrong in segloss.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No GPU adapter could be found on any backend.
    #[error(
        "no GPU adapter found ({detail}). segloss needs a Vulkan, Metal, DX12 or GL driver; \
         a software one works: on Debian/Ubuntu `apt-get install mesa-vulkan-drivers libvulkan1` \
         installs lavapipe (Vulkan on the CPU). WGPU_BACKEND=vulkan|gl|metal|dx12 selects a backend. \
         `Engine::cpu()` runs the float64 reference without a GPU."
    )]
    NoAdapter {
        /// What the adapter request said.
        detail: String,
    },
    /// The device could not be created.
    #[error("could not create a GPU device on adapter '{adapter}': {detail}")]
    DeviceRequest {
        /// The adapter's name.
        adapter: String,
        /// What wgpu said.
        detail: String,
    },
    /// A feature was required by an option but the device lacks it.
    #[error("the device lacks the feature {feature} that {needed_by} requires")]
    MissingFeature {
        /// The wgpu feature.
        feature: &'static str,
        /// The option that needs it.
        needed_by: &'static str,
    },
    /// The shape is not valid (zero-sized, overflowing, or of the wrong rank).
    #[error("invalid shape {shape:?}: {reason}")]
    InvalidShape {
        /// The shape as given.
        shape: Vec<usize>,
        /// Why it is rejected.
        reason: String,
    },
    /// A tensor's length does not match the shape.
    #[error("shape mismatch: {tensor} has {actual} elements but the shape {shape:?} needs {expected}")]
    ShapeMismatch {
        /// Which tensor.
        tensor: Tensor,
        /// The shape.
        shape: Vec<usize>,
        /// Elements the shape needs.
        expected: usize,
        /// Elements given.
        actual: usize,
    },
    /// A value is NaN or infinite (first offending element, flat index and position).
    #[error("{tensor} is not finite at flat index {index} (image {image}, channel {channel}, pixel {pixel}): {value}")]
    NonFinite {
        /// Which tensor.
        tensor: Tensor,
        /// Flat index of the first bad element.
        index: usize,
        /// Image (batch) index of that element.
        image: usize,
        /// Channel (class) of that element (0 for binary inputs and class maps).
        channel: usize,
        /// Pixel index inside the image plane (row-major).
        pixel: usize,
        /// The value found.
        value: f32,
    },
    /// A value lies outside its allowed range (first offending element).
    #[error(
        "{tensor} out of range at flat index {index} (image {image}, channel {channel}, pixel {pixel}): \
         {value} is not in {allowed}"
    )]
    OutOfRange {
        /// Which tensor.
        tensor: Tensor,
        /// Flat index of the first bad element.
        index: usize,
        /// Image (batch) index of that element.
        image: usize,
        /// Channel (class) of that element (0 for binary inputs and class maps).
        channel: usize,
        /// Pixel index inside the image plane (row-major).
        pixel: usize,
        /// The value found (a class index as f32 for class maps).
        value: f32,
        /// What was allowed.
        allowed: String,
    },
    /// A loss parameter is out of its domain.
    #[error("invalid parameter {loss}.{param} = {value}: {reason}")]
    InvalidParameter {
        /// The loss (or option group) the parameter belongs to.
        loss: &'static str,
        /// The parameter name.
        param: &'static str,
        /// The value given.
        value: f64,
        /// The rule it breaks.
        reason: &'static str,
    },
    /// Two requested losses need different per-pixel parameters in the same pass.
    #[error(
        "losses {first} and {second} ask for different per-pixel {what} parameters in one call; \
         one fused pass evaluates one set of them: make two calls"
    )]
    ConflictingPixelParams {
        /// Which per-pixel term.
        what: &'static str,
        /// Index of the first term.
        first: usize,
        /// Index of the conflicting term.
        second: usize,
    },
    /// The request itself is unusable (for example, no loss requested).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// Given statistics do not fit the batch they are used with.
    #[error("statistics mismatch: {0}")]
    StatsMismatch(String),
    /// The GPU reported an error (validation, out of memory, lost device, failed mapping).
    #[error("GPU error during {during}: {detail}")]
    Gpu {
        /// The step that failed.
        during: &'static str,
        /// What wgpu said.
        detail: String,
    },
}

/// `Result` with segloss's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
