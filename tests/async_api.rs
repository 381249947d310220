//! The async API (what the web needs, usable on native too): `Engine::new_async` and
//! `Engine::from_device_async` give bit-identical results to the blocking constructors, and
//! `gpu::read_buffer_async` reads a buffer back without blocking. Fails without an adapter.
mod common;
use common::*;
use segloss::*;

fn terms() -> Vec<Term> {
    vec![
        Loss::Dice(Dice::default()).per_image(),
        Loss::Focal(Focal { gamma: 2.0, ..Focal::default() }).batch().weighted(0.5),
        Loss::Bce(Bce::default()).batch(),
    ]
}

fn assert_bit_identical(what: &str, got: &ValueAndGrad, want: &ValueAndGrad) {
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&got.forward.values), bits(&want.forward.values), "{what}: values differ");
    assert_eq!(got.forward.metrics, want.forward.metrics, "{what}: metrics differ");
    assert_eq!(got.forward.stats.len(), want.forward.stats.len(), "{what}: rows differ");
    for (g, w) in got.forward.stats.iter().zip(&want.forward.stats) {
        assert_eq!(format!("{g:?}"), format!("{w:?}"), "{what}: statistics differ");
    }
    let gbits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert!(gbits(&got.grad) == gbits(&want.grad), "{what}: gradients differ");
}

fn case() -> (Vec<f32>, Vec<f32>) {
    make_case(&mut Rng::new(0xa5c), 3, 61, 77, Mask::Hard, 2.0)
}

fn engine_async() -> Engine {
    match pollster::block_on(Engine::new_async()) {
        Ok(e) => e,
        Err(e) => panic!("GPU tests need a working GPU engine (an adapter: lavapipe or llvmpipe in CI): {e}"),
    }
}

/// A device and queue of the caller's own, on the adapter the engine would pick.
fn own_device() -> (wgpu::Device, wgpu::Queue) {
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapter = pollster::block_on(wgpu::util::initialize_adapter_from_env_or_default(&instance, None))
        .unwrap_or_else(|e| panic!("GPU tests need an adapter (lavapipe or llvmpipe in CI): {e}"));
    pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor::default()))
        .unwrap_or_else(|e| panic!("request_device: {e}"))
}

#[test]
fn new_async_matches_new_bit_for_bit() {
    let (x, t) = case();
    let batch = BinaryBatch::new(&x, &t, &[3, 1, 61, 77]).unwrap();
    let async_engine = engine_async();
    let blocking = gpu();
    assert_eq!(async_engine.info(), blocking.info());
    let got = async_engine.value_and_grad(&batch, &terms()).unwrap();
    let want = blocking.value_and_grad(&batch, &terms()).unwrap();
    assert_bit_identical("new_async vs new", &got, &want);
    let reference = Engine::cpu().forward(&batch, &terms()).unwrap();
    assert_values("new_async vs reference", &got.forward, &reference);

    let options = EngineOptions { subgroups: SubgroupMode::Off, max_workgroups: Some(7), ..Default::default() };
    let a = pollster::block_on(Engine::with_options_async(options.clone())).unwrap();
    let b = Engine::with_options(options).unwrap();
    let got = a.value_and_grad(&batch, &terms()).unwrap();
    let want = b.value_and_grad(&batch, &terms()).unwrap();
    assert_bit_identical("with_options_async vs with_options", &got, &want);
}

#[test]
fn from_device_async_matches_from_device() {
    let (x, t) = case();
    let batch = BinaryBatch::new(&x, &t, &[3, 1, 61, 77]).unwrap();
    let (device, queue) = own_device();
    let a = pollster::block_on(Engine::from_device_async(device.clone(), queue.clone())).unwrap();
    let b = Engine::from_device(device, queue).unwrap();
    let got = a.value_and_grad(&batch, &terms()).unwrap();
    let want = b.value_and_grad(&batch, &terms()).unwrap();
    assert_bit_identical("from_device_async vs from_device", &got, &want);
}

#[test]
fn async_constructors_are_send_on_native() {
    fn send<T: Send>(_: &T) {}
    let options = EngineOptions::default();
    send(&Engine::new_async());
    send(&Engine::with_options_async(options.clone()));
    send(&gpu::GpuContext::new_async(&options));
}

#[test]
fn read_buffer_async_reads_what_was_written() {
    let (device, queue) = own_device();
    let data: Vec<u32> = (0..1000u32).map(|i| i.wrapping_mul(2_654_435_761)).collect();
    let bytes: &[u8] = bytemuck::cast_slice(&data);
    let size = bytes.len() as u64;
    let usage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC;
    let source = device.create_buffer(&wgpu::BufferDescriptor { label: None, size, usage, mapped_at_creation: false });
    let usage = wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST;
    let staging = device.create_buffer(&wgpu::BufferDescriptor { label: None, size, usage, mapped_at_creation: false });
    queue.write_buffer(&source, 0, bytes);
    let mut encoder = device.create_command_encoder(&Default::default());
    encoder.copy_buffer_to_buffer(&source, 0, &staging, 0, Some(size));
    queue.submit([encoder.finish()]);

    let all = pollster::block_on(gpu::read_buffer_async(&device, &staging, ..)).unwrap();
    assert_eq!(all, bytes);
    // A sub-range, and again: the helper unmaps the buffer each time.
    let part = pollster::block_on(gpu::read_buffer_async(&device, &staging, 16..400)).unwrap();
    assert_eq!(part, &bytes[16..400]);
    let tail = pollster::block_on(gpu::read_buffer_async(&device, &staging, 3992..)).unwrap();
    assert_eq!(tail, &bytes[3992..]);

    // Misuse is an error, not a panic or a GPU validation error.
    for (what, r) in [
        ("no MAP_READ", pollster::block_on(gpu::read_buffer_async(&device, &source, ..))),
        ("unaligned start", pollster::block_on(gpu::read_buffer_async(&device, &staging, 4..8))),
        ("odd size", pollster::block_on(gpu::read_buffer_async(&device, &staging, 8..10))),
        ("empty", pollster::block_on(gpu::read_buffer_async(&device, &staging, 8..8))),
        ("past the end", pollster::block_on(gpu::read_buffer_async(&device, &staging, 8..size + 4))),
    ] {
        assert!(matches!(r, Err(Error::Gpu { .. })), "{what}: {r:?}");
    }
}
