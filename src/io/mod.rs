//! Reading and writing masks and arrays: `.npy` and PNG.

pub mod mask;
pub mod npy;
