//! The wgpu path: the engine's options, the context (own or borrowed device; its helpers in one place), the
//! kernels and their Rust↔WGSL contract, the chunk schedule, the one recorder of the forward
//! and backward passes, the blocking path on top of it, the sort, scan and Lovasz passes, and
//! the distance transform.

pub(crate) mod blocking;
pub(crate) mod chunk;
pub(crate) mod context;
pub(crate) mod contract;
pub(crate) mod edt;
pub(crate) mod lovasz;
pub(crate) mod options;
pub(crate) mod pool;
pub(crate) mod profile;
pub mod readback;
pub(crate) mod record;
pub(crate) mod roofline;
pub(crate) mod shaders;
pub(crate) mod sort;
pub(crate) mod specialize;
pub(crate) mod transfer;
pub(crate) mod upload;

pub use blocking::DispatchCount;
pub(crate) use context::GpuContext;
pub(crate) use lovasz::LovaszScales;
pub use options::{BackendInfo, ClassStrategy, EngineOptions, SortStrategy, SubgroupMode, Transfer};
pub use readback::read_buffer_async;
