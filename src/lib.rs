//! # segloss
//!
//! Image-segmentation losses — Dice, IoU/Jaccard, Tversky and focal Tversky, BCE, BCE-Dice,
//! Focal, Combo — and their gradients, computed by WGSL compute shaders through wgpu on any
//! GPU backend, with a float64 CPU reference that every GPU result is tested against.
//!
//! Every sum-based loss is a function of a few per-image sums ([`Stats`]): one fused pass
//! over the data computes all of them, so asking for six losses costs the same pass as one;
//! the gradient is one more elementwise pass.
//!
//! ```
//! use segloss::{BinaryBatch, Dice, Engine, Focal, Loss};
//!
//! let logits = [2.0f32, -1.0, 0.5, -3.0];
//! let targets = [1.0f32, 0.0, 1.0, 0.0];
//! let batch = BinaryBatch::new(&logits, &targets, &[1, 2, 2]).unwrap();
//! let engine = Engine::cpu(); // or Engine::new()? for the GPU
//! let out = engine
//!     .forward(&batch, &[Loss::Dice(Dice::default()).batch(), Loss::Focal(Focal::default()).per_image()])
//!     .unwrap();
//! assert!(out.values[0] > 0.0 && out.values[0] < 1.0);
//! ```
#![deny(missing_docs)]

pub mod aggregate;
pub mod batch;
pub mod bench;
pub mod cpu;
pub mod engine;
pub mod error;
pub mod gpu;
pub mod io;
pub mod loss;
pub mod plan;
pub mod preset;
pub mod stats;

pub use aggregate::{AbsentClass, ClassOptions, ClassSelection, Layout, LovaszRow, Mode};
pub use batch::{BinaryBatch, ClassMap, InputKind, MulticlassBatch, Shape};
pub use engine::{Engine, Forward, Input, ValueAndGrad};
pub use error::{Error, Result, Tensor};
pub use gpu::{BackendInfo, DispatchCount, EngineOptions, SubgroupMode};
/// Half-precision floats for f16 logits ([`LogitData::F16`]).
pub use half;
pub use loss::{
    Aggregation, Bce, BceDice, Coefficients, Combo, CrossEntropy, Dice, DiceCe, Focal, FocalForm, GdlWeighting,
    GeneralizedDice, Iou, Loss, LovaszHinge, LovaszSoftmax, PixelParams, Reduction, Term, TpForm, Tversky,
};
pub use plan::{BufferAt, LogitData, LogitFormat, Plan, PlanDesc, PlanIo, PlanOutput, TargetData, TargetFormat};
pub use stats::{Metrics, Stats};
/// The wgpu version segloss is built on, for `Engine::from_device`.
pub use wgpu;
