//! One wgpu device and queue for burn and segloss: [`init`] brings burn's wgpu runtime up and
//! hands its handles to a segloss [`Engine`]; [`attach`] does the same for an application that
//! made its own [`WgpuSetup`]. The attached devices are kept here, so that an operation that
//! receives only burn tensors finds the engine of the device they live on.

use crate::Error;
use burn::backend::wgpu::{RuntimeOptions, WgpuDevice, WgpuSetup};
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

/// Brings up burn's wgpu runtime on the default adapter (burn's choice, `WGPU_BACKEND`
/// respected by wgpu) and a segloss engine on the same device and queue. Returns the burn
/// device; call `.autodiff()` on it for training.
///
/// Call it once, before any tensor is made on burn's default wgpu device: burn refuses to
/// initialize a runtime twice (that is an `Err` here, not a panic).
pub fn init() -> Result<Device, Error> {
    let wgpu_device = WgpuDevice::default();
    let options = RuntimeOptions::try_default().map_err(|e| Error::Init(e.to_string()))?;
    let setup =
        burn::backend::wgpu::try_init_setup::<burn::backend::wgpu::graphics::AutoGraphicsApi>(&wgpu_device, options)
            .map_err(|e| Error::Init(e.to_string()))?;
    register(wgpu_device, &setup)
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
