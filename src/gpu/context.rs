//! The GPU context: adapter and device (our own or the caller's), capabilities, pipelines
//! and bind-group layouts, made once per engine.

use super::options::cpu_workgroups;
use super::options::{BackendInfo, ClassStrategy, EngineOptions, SortStrategy, SubgroupMode, Transfer};
use super::pool::Pooled;
use super::shaders::{compute_pipeline, module_and_layout, Kernel};
use super::specialize::Specializable;
use crate::error::{Error, Result};

/// Layouts and pipelines of the sort and scan primitives, one set per strategy.
pub(crate) struct SortPipelines {
    pub blocks: SortKernels,
    pub lanes: SortKernels,
}

/// The four kernels of one sort strategy (the scan's two are also the prefix scan's).
pub(crate) struct SortKernels {
    pub count_layout: wgpu::BindGroupLayout,
    pub count: wgpu::ComputePipeline,
    pub scatter_layout: wgpu::BindGroupLayout,
    pub scatter: wgpu::ComputePipeline,
    pub scan_reduce_layout: wgpu::BindGroupLayout,
    pub scan_reduce: wgpu::ComputePipeline,
    pub scan_apply_layout: wgpu::BindGroupLayout,
    pub scan_apply: wgpu::ComputePipeline,
}

/// Layouts and pipelines of the Lovasz kernels.
pub(crate) struct LovaszPipelines {
    pub keys_layout: wgpu::BindGroupLayout,
    pub hinge_keys: wgpu::ComputePipeline,
    pub lse_layout: wgpu::BindGroupLayout,
    pub lse: wgpu::ComputePipeline,
    pub softmax_keys_layout: wgpu::BindGroupLayout,
    pub softmax_keys: wgpu::ComputePipeline,
    pub count_layout: wgpu::BindGroupLayout,
    pub count: wgpu::ComputePipeline,
    pub reduce_layout: wgpu::BindGroupLayout,
    pub reduce: wgpu::ComputePipeline,
    pub grad_layout: wgpu::BindGroupLayout,
    pub grad: wgpu::ComputePipeline,
    pub jacobian_layout: wgpu::BindGroupLayout,
    pub jacobian: wgpu::ComputePipeline,
}

/// Layouts and pipelines of the distance-transform kernels.
pub(crate) struct EdtPipelines {
    pub init_layout: wgpu::BindGroupLayout,
    pub init: wgpu::ComputePipeline,
    pub axis_layout: wgpu::BindGroupLayout,
    pub axis: wgpu::ComputePipeline,
}

/// Bind-group layouts and pipelines of every kernel used.
pub(crate) struct Pipelines {
    pub stats_layout: wgpu::BindGroupLayout,
    /// `stats_partials` (or its subgroup form), specialised per request (specialize.rs).
    pub stats_partials: Specializable,
    pub final_layout: wgpu::BindGroupLayout,
    pub stats_final: wgpu::ComputePipeline,
    /// Segments one `stats_final` workgroup reduces: 1 (`stats_final.wgsl`, a tree per
    /// segment) or `LANE_WG` (`stats_final_lanes.wgsl`, the lane strategy); see `final_grid`.
    final_segments_per_workgroup: usize,
    pub grad_layout: wgpu::BindGroupLayout,
    pub grad: Specializable,
    pub class_stats_layout: wgpu::BindGroupLayout,
    pub class_stats: Specializable,
    /// `class_pixels.wgsl` (with `class_stats_layout`) and `class_planes.wgsl`: the
    /// `ClassStrategy::Planes` forward.
    pub class_pixels: Specializable,
    pub class_planes_layout: wgpu::BindGroupLayout,
    pub class_planes: Specializable,
    pub class_grad: Specializable,
    /// `class_grad.wgsl` with its coefficients in a uniform table (coefs_uniform.wgsl).
    pub class_grad_uniform_layout: wgpu::BindGroupLayout,
    pub class_grad_uniform: Specializable,
    pub sort: SortPipelines,
    pub lovasz: LovaszPipelines,
    pub edt: EdtPipelines,
    pub finalize_layout: wgpu::BindGroupLayout,
    pub finalize: wgpu::ComputePipeline,
    pub roofline_reduce: wgpu::ComputePipeline,
    pub roofline_copy: wgpu::ComputePipeline,
}

impl Pipelines {
    /// The dispatch grid of `stats_final` over `segments` rows (either strategy's kernel).
    pub(crate) fn final_grid(&self, segments: usize) -> (u32, u32) {
        super::chunk::fold(segments.div_ceil(self.final_segments_per_workgroup))
    }
}

/// Device, queue, capabilities and pipelines.
pub struct GpuContext {
    pub(crate) device: wgpu::Device,
    pub(crate) queue: wgpu::Queue,
    pub(crate) info: BackendInfo,
    pub(crate) max_workgroups: u32,
    pub(crate) binding_elems: usize,
    /// `Blocks` or `Lanes` (never `Auto`): see [`SortStrategy`].
    pub(crate) sort_strategy: SortStrategy,
    /// `Fused` or `Planes` (never `Auto`): see [`ClassStrategy`].
    pub(crate) class_strategy: ClassStrategy,
    pub(crate) pipelines: Pipelines,
    /// Reused buffers of the blocking path; also counts the bytes segloss has created.
    pub(crate) pool: super::pool::BufferPool,
    /// Timestamp queries, when profiling.
    pub(crate) profiler: Option<super::profile::Profiler>,
    /// A lost device or an error outside segloss's error scopes, reported by wgpu's callbacks.
    pub(crate) health: std::sync::Arc<Health>,
    /// [`Transfer::Direct`]: the host maps the storage buffers of the batch and the gradient
    /// (`input_buffer`, `write_input`; the gradient is read from the buffer the backward
    /// pass wrote), one copy each way instead of two.
    pub(crate) direct_map: bool,
    /// On wgpu's GL backend, one blocking call at a time: its device work holds one GL context,
    /// and wgpu-hal panics ("Could not lock adapter context") when a thread waits more than a
    /// second for it (a first dispatch compiling shaders on a cold cache takes longer).
    pub(crate) serial: Option<Serial>,
}

/// A lock that the thread holding it may take again (a call inside a call).
#[derive(Debug, Default)]
pub(crate) struct Serial {
    owner: std::sync::Mutex<Option<std::thread::ThreadId>>,
    released: std::sync::Condvar,
}

/// Holds a [`Serial`] until dropped (or nothing, when the thread held it already).
pub(crate) struct SerialGuard<'a>(Option<&'a Serial>);

impl Serial {
    fn enter(&self) -> SerialGuard<'_> {
        let me = std::thread::current().id();
        let mut owner = self.owner.lock().unwrap_or_else(|e| e.into_inner());
        if *owner == Some(me) {
            return SerialGuard(None);
        }
        while owner.is_some() {
            owner = self.released.wait(owner).unwrap_or_else(|e| e.into_inner());
        }
        *owner = Some(me);
        SerialGuard(Some(self))
    }
}

impl Drop for SerialGuard<'_> {
    fn drop(&mut self) {
        if let Some(s) = self.0 {
            *s.owner.lock().unwrap_or_else(|e| e.into_inner()) = None;
            s.released.notify_one();
        }
    }
}

/// What wgpu's device callbacks reported (engines on their own device install them).
#[derive(Debug, Default)]
pub(crate) struct Health {
    /// Why the device was lost.
    pub lost: std::sync::Mutex<Option<String>>,
    /// The first GPU error no error scope caught, not yet returned.
    pub uncaptured: std::sync::Mutex<Option<String>>,
}

impl GpuContext {
    /// Routes wgpu's device-lost and uncaptured-error callbacks (whose default handler
    /// panics) into `health`, so the next call returns `Err`. Only on devices segloss
    /// created: a caller's device keeps the caller's handlers.
    fn watch_device(&self) {
        let health = self.health.clone();
        self.device.set_device_lost_callback(move |reason, message| {
            if let Ok(mut lost) = health.lost.lock() {
                *lost = Some(format!("{reason:?}: {message}"));
            }
        });
        let health = self.health.clone();
        self.device.on_uncaptured_error(std::sync::Arc::new(move |e: wgpu::Error| {
            if let Ok(mut slot) = health.uncaptured.lock() {
                slot.get_or_insert_with(|| e.to_string());
            }
        }));
    }

    /// `Err` if the device was lost or an uncaptured GPU error is pending (taken).
    pub(crate) fn check_health(&self) -> Result<()> {
        if let Some(why) = self.health.lost.lock().ok().and_then(|l| l.clone()) {
            return Err(Error::Gpu { during: "a call on a lost device (make a new Engine)", detail: why });
        }
        if let Some(e) = self.health.uncaptured.lock().ok().and_then(|mut u| u.take()) {
            return Err(Error::Gpu { during: "earlier work on this device", detail: e });
        }
        Ok(())
    }
}

/// The adapter `WGPU_ADAPTER_NAME` names (a case-insensitive part of its name), or the
/// default one. wgpu's own helper panics when the name matches nothing: here that is
/// [`Error::NoAdapter`] naming what was asked for and listing the adapters found.
async fn pick_adapter(instance: &wgpu::Instance) -> Result<wgpu::Adapter> {
    #[cfg(not(target_arch = "wasm32"))]
    if let Some(wanted) = std::env::var_os("WGPU_ADAPTER_NAME") {
        let wanted = wanted.to_string_lossy().to_lowercase();
        let adapters = instance.enumerate_adapters(wgpu::Backends::all()).await;
        let names: Vec<String> =
            adapters.iter().map(|a| format!("'{}' ({})", a.get_info().name, a.get_info().backend)).collect();
        return adapters.into_iter().find(|a| a.get_info().name.to_lowercase().contains(&wanted)).ok_or_else(|| {
            Error::NoAdapter {
                detail: format!(
                    "WGPU_ADAPTER_NAME='{wanted}' matches no adapter; found: {}",
                    if names.is_empty() { "none".to_string() } else { names.join(", ") }
                ),
            }
        });
    }
    instance
        .request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::from_env().unwrap_or_default(),
            compatible_surface: None,
            ..Default::default()
        })
        .await
        .map_err(|e| Error::NoAdapter { detail: e.to_string() })
}

impl GpuContext {
    /// Picks an adapter (any backend; `WGPU_BACKEND` and `WGPU_ADAPTER_NAME` are honoured)
    /// and creates a device on it. Blocks: on the web (wasm32) use [`GpuContext::new_async`].
    pub fn new(options: &EngineOptions, finalize: &str) -> Result<GpuContext> {
        pollster::block_on(Self::new_async(options, finalize))
    }

    /// [`GpuContext::new`] without blocking: for the web (wasm32, WebGPU), where nothing may
    /// block, and for async callers on native.
    pub async fn new_async(options: &EngineOptions, finalize: &str) -> Result<GpuContext> {
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        let adapter = pick_adapter(&instance).await?;
        let info = adapter.get_info();
        let mut features = wgpu::Features::empty();
        if options.subgroups != SubgroupMode::Off && adapter.features().contains(wgpu::Features::SUBGROUP) {
            features |= wgpu::Features::SUBGROUP;
        }
        if options.profile && adapter.features().contains(wgpu::Features::TIMESTAMP_QUERY) {
            features |= wgpu::Features::TIMESTAMP_QUERY;
        }
        let mappable = wgpu::Features::MAPPABLE_PRIMARY_BUFFERS;
        let direct = match options.transfer {
            Transfer::Auto => info.device_type == wgpu::DeviceType::Cpu,
            Transfer::Staged => false,
            Transfer::Direct => true,
        };
        if direct && adapter.features().contains(mappable) {
            features |= mappable;
        }
        let mut limits = adapter.limits();
        if let Some(max) = options.max_storage_binding {
            limits.max_storage_buffer_binding_size = limits.max_storage_buffer_binding_size.min(max);
        }
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("segloss"),
                required_features: features,
                required_limits: limits,
                experimental_features: wgpu::ExperimentalFeatures::disabled(),
                memory_hints: wgpu::MemoryHints::Performance,
                trace: wgpu::Trace::Off,
            })
            .await
            .map_err(|e| Error::DeviceRequest { adapter: info.name.clone(), detail: e.to_string() })?;
        let ctx = Self::from_device_async(device, queue, options, finalize).await?;
        ctx.watch_device();
        Ok(ctx)
    }

    /// Uses the caller's device and queue. Blocks (on the pipelines' error scope): on the web
    /// (wasm32) use [`GpuContext::from_device_async`].
    pub fn from_device(
        device: wgpu::Device,
        queue: wgpu::Queue,
        options: &EngineOptions,
        finalize: &str,
    ) -> Result<GpuContext> {
        pollster::block_on(Self::from_device_async(device, queue, options, finalize))
    }

    /// [`GpuContext::from_device`] without blocking.
    pub async fn from_device_async(
        device: wgpu::Device,
        queue: wgpu::Queue,
        options: &EngineOptions,
        finalize: &str,
    ) -> Result<GpuContext> {
        let adapter = device.adapter_info();
        let subgroups = match options.subgroups {
            SubgroupMode::Off => false,
            mode => {
                let ok = device.features().contains(wgpu::Features::SUBGROUP)
                    && (4..=256).contains(&adapter.subgroup_min_size)
                    && adapter.subgroup_max_size <= 256;
                if mode == SubgroupMode::Require && !ok {
                    return Err(Error::MissingFeature {
                        feature: "SUBGROUP (with subgroups of 4 to 256 lanes)",
                        needed_by: "SubgroupMode::Require",
                    });
                }
                ok
            }
        };
        let is_cpu = adapter.device_type == wgpu::DeviceType::Cpu;
        let mappable = device.features().contains(wgpu::Features::MAPPABLE_PRIMARY_BUFFERS);
        let transfer = match options.transfer {
            Transfer::Auto if is_cpu && mappable => Transfer::Direct,
            Transfer::Auto => Transfer::Staged,
            Transfer::Direct if !mappable => {
                return Err(Error::MissingFeature {
                    feature: "MAPPABLE_PRIMARY_BUFFERS",
                    needed_by: "Transfer::Direct",
                })
            }
            chosen => chosen,
        };
        let max_workgroups =
            options.max_workgroups.unwrap_or(if is_cpu { cpu_workgroups() } else { 2048 }).clamp(1, 65535);
        let sort_strategy = match options.sort {
            SortStrategy::Auto if is_cpu => SortStrategy::Lanes,
            SortStrategy::Auto => SortStrategy::Blocks,
            chosen => chosen,
        };
        let class_strategy = match options.classes {
            ClassStrategy::Auto if is_cpu => ClassStrategy::Planes,
            ClassStrategy::Auto => ClassStrategy::Fused,
            chosen => chosen,
        };
        let limits = device.limits();
        let binding = limits.max_storage_buffer_binding_size.min(limits.max_buffer_size);
        let binding_elems = (binding / 4).min(u32::MAX as u64 / 2) as usize;
        let pipelines =
            Self::make_pipelines(&device, subgroups, sort_strategy == SortStrategy::Lanes, finalize).await?;
        let info = BackendInfo {
            name: adapter.name.clone(),
            backend: adapter.backend.to_string(),
            device_type: format!("{:?}", adapter.device_type),
            subgroups,
            sort: sort_strategy,
            transfer,
            classes: class_strategy,
        };
        let profiler = (options.profile && device.features().contains(wgpu::Features::TIMESTAMP_QUERY))
            .then(|| super::profile::Profiler::new(&device));
        Ok(GpuContext {
            device,
            queue,
            info,
            max_workgroups,
            binding_elems,
            sort_strategy,
            class_strategy,
            pipelines,
            pool: Default::default(),
            health: Default::default(),
            profiler,
            direct_map: transfer == Transfer::Direct,
            serial: (adapter.backend == wgpu::Backend::Gl).then(Serial::default),
        })
    }

    /// Every pipeline, inside one error scope. `finalize` is the finalize kernel's source, which
    /// the caller assembles with the loss catalogue's constants.
    async fn make_pipelines(device: &wgpu::Device, subgroups: bool, lanes: bool, finalize: &str) -> Result<Pipelines> {
        use wgpu::BufferBindingType::{Storage, Uniform};
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let ro = Storage { read_only: true };
        let rw = Storage { read_only: false };
        let stats_layout = layout(device, "stats_partials", &[Uniform, ro, ro, rw, rw]);
        let final_layout = layout(device, "stats_final", &[Uniform, ro, rw]);
        let grad_layout = layout(device, "grad", &[Uniform, ro, ro, ro, rw]);
        let class_grad_uniform_layout =
            layout(device, "class_grad (uniform coefficients)", &[Uniform, ro, ro, Uniform, rw]);
        let class_stats_layout = layout(device, "class_stats", &[Uniform, ro, ro, rw, rw, rw]);
        let class_planes_layout = layout(device, "class_planes", &[Uniform, ro, ro, rw, ro]);
        let kernel = |k: Kernel, kinds: &[wgpu::BufferBindingType]| {
            let l = layout(device, k.name(), kinds);
            let p = pipeline(device, k, &l);
            (l, p)
        };
        let sort_kernels = |[count_k, scatter_k, reduce_k, apply_k]: [Kernel; 4]| {
            let (count_layout, count) = kernel(count_k, &[Uniform, ro, ro, rw]);
            let (scatter_layout, scatter) = kernel(scatter_k, &[Uniform, ro, ro, ro, rw, rw]);
            let (scan_reduce_layout, scan_reduce) = kernel(reduce_k, &[Uniform, ro, rw]);
            let (scan_apply_layout, scan_apply) = kernel(apply_k, &[Uniform, ro, ro, rw]);
            SortKernels {
                count_layout,
                count,
                scatter_layout,
                scatter,
                scan_reduce_layout,
                scan_reduce,
                scan_apply_layout,
                scan_apply,
            }
        };
        let sort = SortPipelines {
            blocks: sort_kernels([Kernel::RadixCount, Kernel::RadixScatter, Kernel::ScanReduce, Kernel::ScanApply]),
            lanes: sort_kernels([
                Kernel::RadixLaneCount,
                Kernel::RadixLaneScatter,
                Kernel::ScanLaneReduce,
                Kernel::ScanLaneApply,
            ]),
        };
        let (keys_layout, hinge_keys) = kernel(Kernel::LovaszHingeKeys, &[Uniform, ro, ro, rw, rw, rw]);
        let (lse_layout, lse) = kernel(Kernel::LovaszLse, &[Uniform, ro, ro, rw, rw]);
        let (softmax_keys_layout, softmax_keys) = kernel(Kernel::LovaszSoftmaxKeys, &[Uniform, ro, ro, rw, rw, ro]);
        let (count_layout, count) = kernel(Kernel::LovaszCount, &[Uniform, ro, ro, rw]);
        let (reduce_layout, reduce) = kernel(Kernel::LovaszReduce, &[Uniform, ro, ro, ro, ro, rw]);
        let (lgrad_layout, lgrad) = kernel(Kernel::LovaszGrad, &[Uniform, ro, ro, ro, ro, ro, rw]);
        let (jacobian_layout, jacobian) = kernel(Kernel::LovaszJacobian, &[Uniform, ro, ro, rw, ro]);
        let lovasz = LovaszPipelines {
            keys_layout,
            hinge_keys,
            lse_layout,
            lse,
            softmax_keys_layout,
            softmax_keys,
            count_layout,
            count,
            reduce_layout,
            reduce,
            grad_layout: lgrad_layout,
            grad: lgrad,
            jacobian_layout,
            jacobian,
        };
        let (init_layout, init) = kernel(Kernel::EdtInit, &[Uniform, ro, rw]);
        let (axis_layout, axis) = kernel(Kernel::EdtAxis, &[Uniform, rw, rw]);
        let edt = EdtPipelines { init_layout, init, axis_layout, axis };
        let finalize_layout = layout(device, Kernel::Finalize.name(), &[Uniform, ro, ro, ro, ro, ro, rw, rw, rw]);
        let finalize = pipeline_from_source(device, Kernel::Finalize.name(), finalize.to_string(), &finalize_layout);
        let partials_kernel = if subgroups { Kernel::StatsPartialsSubgroup } else { Kernel::StatsPartials };
        let pipelines = Pipelines {
            stats_partials: Specializable::new(device, partials_kernel, &stats_layout),
            stats_final: pipeline(
                device,
                if lanes { Kernel::StatsFinalLanes } else { Kernel::StatsFinal },
                &final_layout,
            ),
            final_segments_per_workgroup: if lanes { super::contract::LANE_WG as usize } else { 1 },
            grad: Specializable::new(device, Kernel::Grad, &grad_layout),
            class_stats: Specializable::new(device, Kernel::ClassStats, &class_stats_layout),
            class_pixels: Specializable::new(device, Kernel::ClassPixels, &class_stats_layout),
            class_planes: Specializable::new(device, Kernel::ClassPlanes, &class_planes_layout),
            class_planes_layout,
            class_grad: Specializable::new(device, Kernel::ClassGrad, &grad_layout),
            class_grad_uniform: Specializable::new(device, Kernel::ClassGradUniform, &class_grad_uniform_layout),
            class_grad_uniform_layout,
            class_stats_layout,
            sort,
            lovasz,
            edt,
            finalize_layout,
            finalize,
            roofline_reduce: pipeline(device, Kernel::RooflineReduce, &final_layout),
            roofline_copy: pipeline(device, Kernel::RooflineCopy, &final_layout),
            stats_layout,
            final_layout,
            grad_layout,
        };
        if let Some(e) = scope.pop().await {
            return Err(Error::Gpu { during: "pipeline creation", detail: e.to_string() });
        }
        Ok(pipelines)
    }

    /// What the context runs on.
    pub fn info(&self) -> &BackendInfo {
        &self.info
    }
}

fn layout(device: &wgpu::Device, label: &str, kinds: &[wgpu::BufferBindingType]) -> wgpu::BindGroupLayout {
    let entries: Vec<_> = kinds
        .iter()
        .enumerate()
        .map(|(i, &ty)| wgpu::BindGroupLayoutEntry {
            binding: i as u32,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer { ty, has_dynamic_offset: false, min_binding_size: None },
            count: None,
        })
        .collect();
    device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor { label: Some(label), entries: &entries })
}

fn pipeline(device: &wgpu::Device, kernel: Kernel, layout: &wgpu::BindGroupLayout) -> wgpu::ComputePipeline {
    pipeline_from_source(device, kernel.name(), kernel.source(), layout)
}

fn pipeline_from_source(
    device: &wgpu::Device,
    label: &str,
    source: String,
    layout: &wgpu::BindGroupLayout,
) -> wgpu::ComputePipeline {
    let (module, pipeline_layout) = module_and_layout(device, label, source, layout);
    compute_pipeline(device, label, &module, &pipeline_layout, &[])
}

/// Buffers, bind groups, readback and error scopes: the helpers every pass uses.
impl GpuContext {
    /// The sort and scan kernels of this context's strategy.
    pub(crate) fn sort_kernels(&self) -> &SortKernels {
        match self.sort_strategy {
            SortStrategy::Lanes => &self.pipelines.sort.lanes,
            _ => &self.pipelines.sort.blocks,
        }
    }

    /// The device limits the chunk schedule depends on.
    pub(crate) fn limits(&self) -> super::chunk::Limits {
        super::chunk::Limits {
            max_workgroups: self.max_workgroups,
            binding_elems: self.binding_elems,
            class_planes: self.class_strategy == ClassStrategy::Planes,
        }
    }

    /// Binding limit in bytes (pool size classes stay under it).
    fn binding_bytes(&self) -> u64 {
        self.binding_elems as u64 * 4
    }

    /// A pooled uniform buffer for one `Params`.
    pub(crate) fn uniform(&self) -> Pooled<'_> {
        use wgpu::BufferUsages as U;
        let size = std::mem::size_of::<super::contract::Params>() as u64;
        self.pool.take(&self.device, "params", size, U::UNIFORM | U::COPY_DST, self.binding_bytes())
    }

    /// A pooled uniform buffer of at least `size` bytes (a table: bind a range of it).
    pub(crate) fn uniform_table(&self, label: &'static str, size: u64) -> Pooled<'_> {
        use wgpu::BufferUsages as U;
        self.pool.take(&self.device, label, size, U::UNIFORM | U::COPY_DST, self.binding_bytes())
    }

    /// A pooled staging buffer (map-read) of at least `size` bytes.
    pub(crate) fn staging(&self, size: u64) -> Pooled<'_> {
        use wgpu::BufferUsages as U;
        self.pool.take(&self.device, "staging", size, U::MAP_READ | U::COPY_DST, self.binding_bytes())
    }

    /// A pooled storage buffer of at least `size` bytes with `usage` besides `STORAGE`.
    pub(crate) fn storage(&self, label: &'static str, size: u64, usage: wgpu::BufferUsages) -> Pooled<'_> {
        self.pool.take(&self.device, label, size, wgpu::BufferUsages::STORAGE | usage, self.binding_bytes())
    }

    /// A bind group of whole buffers, bound in order from binding 0.
    pub(crate) fn bind_group(&self, layout: &wgpu::BindGroupLayout, buffers: &[&wgpu::Buffer]) -> wgpu::BindGroup {
        let bindings: Vec<_> = buffers.iter().map(|b| b.as_entire_buffer_binding()).collect();
        self.bind_ranges(layout, &bindings)
    }

    /// A bind group of buffer ranges, bound in order from binding 0.
    pub(crate) fn bind_ranges(
        &self,
        layout: &wgpu::BindGroupLayout,
        bindings: &[wgpu::BufferBinding],
    ) -> wgpu::BindGroup {
        let entries: Vec<_> = bindings
            .iter()
            .enumerate()
            .map(|(i, b)| wgpu::BindGroupEntry {
                binding: i as u32,
                resource: wgpu::BindingResource::Buffer(b.clone()),
            })
            .collect();
        self.device.create_bind_group(&wgpu::BindGroupDescriptor { label: None, layout, entries: &entries })
    }

    /// Runs `f` inside Validation and OutOfMemory error scopes: a GPU error becomes `Err`.
    /// On GL, one such call runs at a time per context (see `serial`).
    pub(crate) fn scoped<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let _serial = self.exclusive();
        self.check_health()?;
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let result = f().and_then(|value| self.collect_gpu_time().map(|_| value));
        let oom = pollster::block_on(oom.pop());
        let validation = pollster::block_on(validation.pop());
        if let Some(e) = oom.or(validation) {
            return Err(Error::Gpu { during: "segloss pass", detail: e.to_string() });
        }
        self.check_health()?;
        result
    }

    /// On GL, holds the context's serial lock (re-entrant) until the guard drops.
    pub(crate) fn exclusive(&self) -> Option<SerialGuard<'_>> {
        self.serial.as_ref().map(Serial::enter)
    }

    /// Begins a compute pass, with timestamps when profiling.
    pub(crate) fn compute_pass<'e>(&self, encoder: &'e mut wgpu::CommandEncoder, label: &str) -> wgpu::ComputePass<'e> {
        let writes = self.profiler.as_ref().and_then(|p| p.timestamp_writes());
        encoder.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some(label), timestamp_writes: writes })
    }

    /// Adds the timestamps of this call's passes to the running total (when profiling).
    pub(crate) fn collect_gpu_time(&self) -> Result<()> {
        match &self.profiler {
            Some(p) => p.collect(&self.device, &self.queue, |b, size| self.read(b, size)),
            None => Ok(()),
        }
    }

    /// GPU seconds of the compute passes since the last call (None without profiling, or if a
    /// call recorded more passes than one query set holds).
    pub(crate) fn take_gpu_time(&self) -> Option<f64> {
        self.profiler.as_ref()?.take()
    }
}
