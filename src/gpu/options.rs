//! What a caller chooses for a GPU engine ([`EngineOptions`]: the strategies each adapter
//! would otherwise get by default) and what the engine reports it runs on ([`BackendInfo`]).

/// Whether the first forward stage uses subgroup operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SubgroupMode {
    /// Use subgroups when the device has `Features::SUBGROUP` (and subgroups of ≥ 4 lanes).
    #[default]
    Auto,
    /// Always the portable tree reduction.
    Off,
    /// Subgroups or an error.
    Require,
}

/// How the sort and scan primitives (and so the Lovasz losses) and the forward pass's second
/// stage (`stats_final.wgsl`, `stats_final_lanes.wgsl`) split their work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortStrategy {
    /// From the adapter: `Lanes` on CPU adapters (`DeviceType::Cpu`: lavapipe, llvmpipe,
    /// WARP), `Blocks` otherwise.
    #[default]
    Auto,
    /// Workgroups of 256 invocations cooperate on blocks of 1024 elements (4-bit digits,
    /// workgroup scans in workgroup memory): the GPU layout, coalesced and barrier-synchronised.
    Blocks,
    /// Every invocation works through a contiguous run of elements serially (8-bit digits,
    /// no workgroup memory, no barrier; the forward's second stage: one invocation per
    /// segment): for adapters whose invocations are SIMD lanes of a few CPU threads, where
    /// every workgroup barrier is a context switch.
    Lanes,
}

/// How the multiclass forward pass reads the logits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClassStrategy {
    /// From the adapter: `Planes` on CPU adapters (`DeviceType::Cpu`), `Fused` otherwise.
    #[default]
    Auto,
    /// One read of the logits (`class_stats.wgsl`): each workgroup takes a tile of pixels,
    /// one pixel per invocation for the softmax, then one class per invocation for the sums
    /// through workgroup memory. The GPU layout: memory traffic is the cost.
    Fused,
    /// Two steps: each pixel's softmax summary (lse, class, argmax) to memory
    /// (`class_pixels.wgsl`), then every (image, class) plane summed like a binary segment
    /// (`class_planes.wgsl`). Reads the logits twice, but has no barrier and its lanes load
    /// consecutive logits: for adapters whose invocations are SIMD lanes of a few CPU threads.
    /// Used where the pixel summary fits one binding (C ≥ 3); `Fused` otherwise.
    Planes,
}

/// How the blocking calls move the batch to the device and the gradient back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Transfer {
    /// `Direct` on CPU adapters whose storage buffers the host can map
    /// (`Features::MAPPABLE_PRIMARY_BUFFERS`), `Staged` otherwise.
    #[default]
    Auto,
    /// Through the queue and staging buffers: two copies each way (the GPU layout, where
    /// device memory is not host memory).
    Staged,
    /// The host maps the storage buffers the passes read and write: one copy each way. Needs
    /// `Features::MAPPABLE_PRIMARY_BUFFERS` (an error without it). On a CPU adapter device
    /// memory is host memory, so this saves a copy of the batch and of the gradient.
    Direct,
}

/// The default cap on a dispatch's workgroups on a CPU adapter: 4 per thread of this machine
/// (lavapipe and llvmpipe run workgroups on one thread per CPU), 8 to 64. Each workgroup of
/// the forward pass ends in a reduction whose barriers cost the same whatever its share of
/// the pixels, so beyond a few per thread more workgroups only add that cost: on 2 threads,
/// 8 instead of 64 took the binary Dice forward from 2.4 to 1.4 ms (8×1×256², lavapipe,
/// PERFORMANCE.md).
pub(crate) fn cpu_workgroups() -> u32 {
    let threads = std::thread::available_parallelism().map_or(16, |n| n.get());
    (4 * threads).clamp(8, 64) as u32
}

/// Options of a GPU engine.
#[derive(Debug, Clone, Default)]
pub struct EngineOptions {
    /// Subgroup use.
    pub subgroups: SubgroupMode,
    /// Cap on the workgroups of one dispatch (default: on CPU adapters 4 per CPU thread, 8 to
    /// 64 — see `cpu_workgroups`; 2048 otherwise).
    pub max_workgroups: Option<u32>,
    /// Request the device with this `max_storage_buffer_binding_size` (bytes) instead of the
    /// adapter's: inputs larger than one binding are then split into chunks.
    pub max_storage_binding: Option<u64>,
    /// Time every compute pass with timestamp queries (needs `Features::TIMESTAMP_QUERY`;
    /// read with `Engine::take_gpu_time`). Off by default: it adds a readback per call.
    pub profile: bool,
    /// The sort and scan strategy (default: chosen from the adapter).
    pub sort: SortStrategy,
    /// How blocking calls move data (default: chosen from the adapter).
    pub transfer: Transfer,
    /// How the multiclass forward pass reads the logits (default: chosen from the adapter).
    pub classes: ClassStrategy,
}

/// What the engine runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendInfo {
    /// Adapter name ("llvmpipe (LLVM 15.0.6, 256 bits)", "float64 reference", …).
    pub name: String,
    /// Graphics backend ("vulkan", "gl", …, or "cpu-f64").
    pub backend: String,
    /// Device type ("DiscreteGpu", "Cpu", …).
    pub device_type: String,
    /// Whether the forward pass uses subgroup operations.
    pub subgroups: bool,
    /// The sort and scan strategy in use (`Blocks` or `Lanes`; `Auto` on the reference).
    pub sort: SortStrategy,
    /// How blocking calls move data (`Staged` or `Direct`; `Auto` on the reference).
    pub transfer: Transfer,
    /// The multiclass forward strategy (`Fused` or `Planes`; `Auto` on the reference).
    pub classes: ClassStrategy,
}
