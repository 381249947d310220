//! # segloss
//!
//! Image-segmentation losses — Dice, IoU/Jaccard, Tversky and focal Tversky, BCE, BCE-Dice,
//! Focal, Combo, cross-entropy, Generalized Dice, Lovasz hinge and softmax — and their
//! gradients, computed by WGSL compute shaders through wgpu on any GPU backend, with a
//! float64 CPU reference that every GPU result is tested against.
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
//!
//! Modules: the user-facing types are at the crate root; [`reference`] is the float64 oracle
//! (one function per GPU stage); [`io`] reads and writes .npy and PNG masks (feature `io`);
//! [`preset`] gives the PyTorch libraries' losses by name (feature `presets`); `bench` holds
//! the benchmark workloads (feature `cli`); [`gpu`] the async readback for the web. The architecture is in
//! ARCHITECTURE.md.
#![deny(missing_docs)]

/// Defines `u32` constants once, for Rust, and lists them (name, value) for a generated
/// WGSL header: the Rust↔WGSL contract is written on the Rust side only.
macro_rules! shared_constants {
    ($list:ident: $($(#[$doc:meta])* $name:ident = $value:expr;)*) => {
        $($(#[$doc])* pub(crate) const $name: u32 = $value;)*
        /// Every constant of this group, by name, for the WGSL header.
        pub(crate) const $list: &[(&str, u32)] = &[$((stringify!($name), $name)),*];
    };
}

mod aggregate;
mod batch;
#[cfg(feature = "cli")]
pub mod bench;
mod check;
mod engine;
mod error;
mod finalize;
pub mod gpu;
mod grid;
mod input;
#[cfg(feature = "io")]
pub mod io;
mod loss;
mod options;
mod pixel;
mod plan;
#[cfg(feature = "presets")]
pub mod preset;
mod stats;
pub mod surface;
mod term;

/// The float64 reference: plain loops, one function per GPU stage, with the same names.
pub mod reference {
    pub use crate::cpu::*;
}
mod cpu;

pub use aggregate::evaluate;
pub use batch::{multilabel_shape, BinaryBatch, ClassMap, InputKind, MulticlassBatch, Shape};
pub use engine::{Engine, Forward, ValueAndGrad};
pub use error::{Error, Result, Tensor};
pub use gpu::{BackendInfo, ClassStrategy, DispatchCount, EngineOptions, SortStrategy, SubgroupMode, Transfer};
/// Half-precision floats for f16 logits ([`LogitData::F16`]).
pub use half;
pub use input::{Input, Layout, Mode};
/// The catalogue's public items: `Loss`, every loss struct and its option enums (a loss added
/// to `loss/mod.rs`'s catalogue appears here by itself).
pub use loss::*;
pub use options::{AbsentClass, Aggregation, ClassOptions, ClassSelection};
pub use pixel::{FocalForm, LogSums, PixelParams};
pub use plan::{BufferAt, LogitData, LogitFormat, Plan, PlanDesc, PlanIo, PlanOutput, TargetData, TargetFormat};
pub use stats::{Coefficients, LovaszRow, Metrics, Stats};
pub use term::Term;
/// The wgpu version segloss is built on, for `Engine::from_device`.
pub use wgpu;
