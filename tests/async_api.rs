//! The async API (what the web needs, usable on native too): `Engine::new_async` and
//! `Engine::from_device_async` give bit-identical results to the blocking constructors, and
//! `gpu::read_buffer_async` reads a buffer back without blocking. Fails without an adapter.
mod common;
use common::*;
use segloss::wgpu;
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

/// The whole web path, with nothing that blocks: `new_async`, a plan encoded into the
/// caller's encoder on the engine's device, the values and gradient read back with
/// `read_buffer_async`; the same bits as the blocking `Plan::run`.
#[test]
fn plan_encode_and_async_readback_give_the_bits_of_run() {
    let engine = engine_async();
    let (x, t) = case();
    let plan = engine.plan(PlanDesc::binary(&[3, 1, 61, 77], terms()).unwrap().with_gradient()).unwrap();
    let (device, queue) = engine.device().unwrap();
    let buffer = |size: u64, usage: wgpu::BufferUsages| {
        device.create_buffer(&wgpu::BufferDescriptor { label: None, size, usage, mapped_at_creation: false })
    };
    let u = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC;
    let bytes = x.len() as u64 * 4;
    let (xb, tb, gb) = (buffer(bytes, u), buffer(bytes, u), buffer(bytes, u));
    let values_bytes = plan.desc().values_bytes();
    let vb = buffer(values_bytes, u);
    let staging = wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST;
    let (vs, gs) = (buffer(values_bytes, staging), buffer(bytes, staging));
    queue.write_buffer(&xb, 0, bytemuck::cast_slice(&x));
    queue.write_buffer(&tb, 0, bytemuck::cast_slice(&t));
    let mut encoder = device.create_command_encoder(&Default::default());
    let io = PlanIo {
        logits: BufferAt::new(&xb, 0),
        targets: BufferAt::new(&tb, 0),
        values: BufferAt::new(&vb, 0),
        grad: Some(BufferAt::new(&gb, 0)),
    };
    plan.encode(&mut encoder, &io).unwrap();
    encoder.copy_buffer_to_buffer(&vb, 0, &vs, 0, Some(values_bytes));
    encoder.copy_buffer_to_buffer(&gb, 0, &gs, 0, Some(bytes));
    queue.submit([encoder.finish()]);
    let values: Vec<f32> =
        bytemuck::pod_collect_to_vec(&pollster::block_on(gpu::read_buffer_async(device, &vs, ..)).unwrap());
    let grad: Vec<f32> =
        bytemuck::pod_collect_to_vec(&pollster::block_on(gpu::read_buffer_async(device, &gs, ..)).unwrap());

    let blocking = plan.run(LogitData::F32(&x), TargetData::F32(&t)).unwrap();
    assert_eq!(values[0].to_bits(), blocking.total.to_bits(), "total");
    for (i, v) in blocking.values.iter().enumerate() {
        assert_eq!(values[1 + i].to_bits(), v.to_bits(), "term {i}");
    }
    let gbits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert!(gbits(&grad) == gbits(blocking.grad.as_deref().unwrap()), "gradients differ");
}
