//! The float64 reference: plain loops, one function per GPU stage, same names.
//!
//! | GPU stage | shader | reference |
//! |---|---|---|
//! | per-pixel terms | `prelude.wgsl` `activate` / `pixel_sums` / `pixel_grad` | [`pixel`] |
//! | fused forward | `stats_partials.wgsl` + `stats_final.wgsl` | [`stats::stats_pass`] |
//! | backward | `grad.wgsl` | [`grad::grad_pass`] |
//! | multiclass forward | `class_stats.wgsl` + `stats_final.wgsl` | [`classes::class_stats_pass`] |
//! | multiclass backward | `class_grad.wgsl` | [`classes::class_grad_pass`] |
//! | radix sort | `radix_count.wgsl` + `radix_scatter.wgsl` | [`sort::sort_pairs`] |
//! | Lovasz hinge / softmax | `lovasz_*.wgsl` (+ sort, scan) | [`lovasz::lovasz_hinge`], [`lovasz::lovasz_softmax`] |
//! | prefix scan | `scan_reduce.wgsl` + `scan_apply.wgsl` | [`sort::prefix_scan`] |
//! | soft skeleton (clDice) | none: host f64 on every engine | [`skeleton::Skeleton`] ([`skeleton::soft_erode`], [`skeleton::soft_dilate`]) |
//! | distance transform | `edt_init.wgsl` + `edt_axis.wgsl` (per axis) | [`edt::edt_init`], [`edt::edt_axis`]: [`edt::squared_distance_transform`] |

pub mod classes;
pub mod edt;
pub mod grad;
pub mod lovasz;
pub mod pixel;
pub mod skeleton;
pub mod sort;
pub mod stats;

pub use classes::{class_grad_pass, class_stats_pass};
pub use grad::grad_pass;
pub use stats::stats_pass;
