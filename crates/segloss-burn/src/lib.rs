//! segloss's segmentation losses for [burn](https://burn.dev), on burn's own wgpu device.
//!
//! burn 0.22 runs on CubeCL's wgpu runtime, on the same wgpu (30) as segloss, so burn and a
//! segloss [`Engine`](segloss::Engine) can share one wgpu device and queue ([`init`],
//! [`attach`]). A [`SegLoss`] then reads the buffers behind burn's tensors in place: one
//! segloss plan computes the value and, under autodiff, the gradient in the same pass; the
//! gradient stays on the device as the operation's state and the backward pass only scales it.
//! Nothing is read back to the host.
//!
//! ```no_run
//! use burn::tensor::{Distribution, Tensor};
//! use segloss::{BceDice, Loss};
//! use segloss_burn::SegLoss;
//!
//! # fn main() -> Result<(), segloss_burn::Error> {
//! let device = segloss_burn::init()?.autodiff();
//! let loss = SegLoss::binary(vec![Loss::BceDice(BceDice::default()).batch()]);
//! let logits = Tensor::<4>::random([2, 1, 64, 64], Distribution::Normal(0.0, 1.0), &device).require_grad();
//! let targets = Tensor::<4>::random([2, 1, 64, 64], Distribution::Bernoulli(0.3), &device);
//! let total = loss.forward(logits.clone(), targets)?; // shape [1]
//! let grads = total.backward();
//! let dlogits = logits.grad(&grads).expect("tracked");
//! # let _ = dlogits;
//! # Ok(())
//! # }
//! ```
//!
//! How it is built: `ops` declares the operations as a burn backend extension (CubeCL, fusion
//! and autodiff routes), `autodiff` is the backward step, `plans` caches segloss plans by shape
//! and format, `device` keeps the shared devices, and [`SegLoss`] checks every input before
//! an operation is made, so that bad input is an [`Error`], never a panic inside burn.

mod autodiff;
mod device;
mod loss;
mod ops;
mod plans;

pub use device::{attach, engine, init};
pub use loss::SegLoss;
#[doc(hidden)]
pub use ops::scratch_gradients;
pub use ops::SeglossBackend;
/// The segloss crate this one is built on (losses, terms, options).
pub use segloss;

/// What can go wrong before a loss runs.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// burn's wgpu runtime could not be brought up or registered.
    #[error("burn's wgpu runtime: {0}")]
    Init(String),
    /// A tensor lives on a device that [`init`] or [`attach`] did not return.
    #[error(
        "the tensors are on {0}, which segloss-burn does not share: make the device with \
         segloss_burn::init() or segloss_burn::attach(setup)"
    )]
    NotAttached(String),
    /// A tensor's shape, rank or element type does not fit the loss.
    #[error("{0}")]
    Input(String),
    /// segloss refused the plan (an unsupported term, a bad option, a shape too large).
    #[error(transparent)]
    Segloss(#[from] segloss::Error),
}
