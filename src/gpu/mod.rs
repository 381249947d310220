//! The wgpu path: context (own or borrowed device), kernels, data layout, chunk plan and
//! the blocking forward/backward run.

pub mod context;
pub(crate) mod layout;
pub(crate) mod lovasz;
pub mod plan;
pub(crate) mod pool;
pub(crate) mod profile;
pub mod readback;
pub(crate) mod run;
pub(crate) mod run_classes;
pub mod shaders;
pub(crate) mod sort;

pub use context::{BackendInfo, EngineOptions, GpuContext, SubgroupMode};
pub use readback::read_buffer_async;
pub use run::DispatchCount;
