//! The float64 reference: plain loops, one function per GPU stage, same names.
//!
//! | GPU stage | shader | reference |
//! |---|---|---|
//! | per-pixel terms | `prelude.wgsl` `activate` / `pixel_sums` / `pixel_grad` | [`pixel`] |
//! | fused forward | `stats_partials.wgsl` + `stats_final.wgsl` | [`stats::stats_pass`] |
//! | backward | `grad.wgsl` | [`grad::grad_pass`] |

pub mod grad;
pub mod pixel;
pub mod stats;

pub use grad::grad_pass;
pub use stats::stats_pass;
