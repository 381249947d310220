//! One wgpu device and queue for burn and segloss: [`init`] brings burn's wgpu runtime up and
//! hands its handles to a segloss [`Engine`]; [`attach`] does the same for an application that
//! made its own [`WgpuSetup`]. The attached devices are kept here, so that an operation that
//! receives only burn tensors finds the engine of the device they live on.

use crate::Error;
use burn::backend::wgpu::{RuntimeOptions, WgpuBackend, WgpuDevice, WgpuSetup};
use burn::tensor::Device;
use burn_cubecl::CubeDevice;
use segloss::Engine;
use std::sync::{Arc, Mutex, MutexGuard};

/// A burn device that shares its wgpu device and queue with a segloss engine.
pub(crate) struct Attached {
    /// Its place in the list of attached devices (devices are never detached).
    pub index: usize,
    /// The burn device (without autodiff: burn compares devices by hardware identity).
    pub burn: Device,
    /// The same device as burn's CubeCL tensors name it.
    pub cube: CubeDevice,
    /// The segloss engine on burn's wgpu device and queue.
    pub engine: Arc<Engine>,
}

static ATTACHED: Mutex<Vec<Arc<Attached>>> = Mutex::new(Vec::new());

fn attached() -> MutexGuard<'static, Vec<Arc<Attached>>> {
    // A panic while the list was locked cannot leave it half-written: pushes are single calls.
    ATTACHED.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Brings up burn's wgpu runtime on the default adapter and a segloss engine on the same
/// device and queue, and returns the burn device; call `.autodiff()` on it for training.
/// `WGPU_BACKEND` (`vulkan`, `gl`, `metal`, `dx12`, `webgpu`), read as wgpu reads it, pins the
/// graphics API (burn alone would ignore it); unset, burn chooses.
///
/// Call it once, before any tensor is made on burn's default wgpu device: burn refuses to
/// initialize a runtime twice (that is an `Err` here, not a panic).
pub fn init() -> Result<Device, Error> {
    let wgpu_device = WgpuDevice::default().on(backend_from_env()?);
    let options = RuntimeOptions::try_default().map_err(|e| Error::Init(e.to_string()))?;
    let setup =
        burn::backend::wgpu::try_init_setup::<burn::backend::wgpu::graphics::AutoGraphicsApi>(&wgpu_device, options)
            .map_err(|e| Error::Init(e.to_string()))?;
    register(wgpu_device, &setup)
}

/// The one graphics API `WGPU_BACKEND` names, or `Auto` where it is unset.
fn backend_from_env() -> Result<WgpuBackend, Error> {
    use segloss::wgpu::Backends;
    let Some(backends) = Backends::from_env() else { return Ok(WgpuBackend::Auto) };
    let one = [
        (Backends::VULKAN, WgpuBackend::Vulkan),
        (Backends::GL, WgpuBackend::Gl),
        (Backends::METAL, WgpuBackend::Metal),
        (Backends::DX12, WgpuBackend::Dx12),
        (Backends::BROWSER_WEBGPU, WgpuBackend::WebGpu),
    ];
    one.into_iter().find(|(b, _)| *b == backends).map(|(_, api)| api).ok_or_else(|| {
        Error::Init(format!(
            "WGPU_BACKEND names {backends:?}: burn's runtime takes one graphics API (vulkan, gl, metal, dx12 or webgpu)"
        ))
    })
}

/// Registers an application's own wgpu handles with burn (as
/// `Device::wgpu_options().setup(setup).init()` does) and with a segloss engine, and returns
/// the burn device. The device must have been requested with the features and limits both
/// need (segloss asks for none beyond wgpu's defaults).
pub fn attach(setup: WgpuSetup) -> Result<Device, Error> {
    let options = RuntimeOptions::try_default().map_err(|e| Error::Init(e.to_string()))?;
    let wgpu_device =
        burn::backend::wgpu::try_init_device(setup.clone(), options).map_err(|e| Error::Init(e.to_string()))?;
    register(wgpu_device, &setup)
}

fn register(wgpu_device: WgpuDevice, setup: &WgpuSetup) -> Result<Device, Error> {
    let engine = Engine::from_device(setup.device.clone(), setup.queue.clone())?;
    let burn = Device::from(wgpu_device.clone());
    let mut list = attached();
    let index = list.len();
    list.push(Arc::new(Attached {
        index,
        burn: burn.clone(),
        cube: CubeDevice::Wgpu(wgpu_device),
        engine: Arc::new(engine),
    }));
    Ok(burn)
}

/// The attachment of the burn device `device` (autodiff or not).
pub(crate) fn find(device: &Device) -> Result<Arc<Attached>, Error> {
    attached().iter().find(|a| a.burn == *device).cloned().ok_or_else(|| Error::NotAttached(format!("{device:?}")))
}

/// The segloss engine that shares `device`'s wgpu device and queue (for segloss's own calls on
/// the same GPU: `forward`, `eval`, plans of your own). `Err` for a device not made by [`init`]
/// or [`attach`].
pub fn engine(device: &Device) -> Result<Arc<Engine>, Error> {
    Ok(find(device)?.engine.clone())
}
