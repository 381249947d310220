//! The page's code: a segloss engine created asynchronously on the browser's WebGPU adapter,
//! two plans (value and gradient: three losses on a binary batch, two on a multiclass class
//! map) encoded into the page's own command encoder,
//! the results read back without blocking (`gpu::read_buffer_async`). Nothing here blocks:
//! on the web nothing may.

mod case;

use segloss::{gpu, wgpu, BufferAt, Engine, PlanDesc, PlanIo, TargetFormat};
use wasm_bindgen::prelude::*;

/// Runs both cases on WebGPU: `{"binary": <report>, "multiclass": <report>}`, or the error's
/// text.
#[wasm_bindgen]
pub async fn run() -> Result<String, JsValue> {
    run_cases().await.map_err(|e| JsValue::from_str(&e.to_string()))
}

async fn run_cases() -> segloss::Result<String> {
    let engine = Engine::new_async().await?;
    let info = engine.info();
    let adapter = format!("{} ({}, {}, sort {:?})", info.name, info.backend, info.device_type, info.sort);
    let (x, t) = case::inputs();
    let desc = PlanDesc::binary(&case::DIMS, case::terms())?;
    let binary = run_plan(&engine, desc, &x, bytemuck::cast_slice(&t)).await?;
    let (x, map) = case::class_inputs();
    let desc = PlanDesc::multiclass(&case::CLASS_DIMS, TargetFormat::Classes8, case::class_terms())?;
    let multiclass = run_plan(&engine, desc, &x, &map).await?;
    let report = |(values, grad): (Vec<f32>, Vec<f32>)| {
        let terms: Vec<f64> = values[1..].iter().map(|&v| v as f64).collect();
        case::report(&adapter, values[0] as f64, &terms, &grad)
    };
    Ok(format!("{{\"binary\": {}, \"multiclass\": {}}}", report(binary), report(multiclass)))
}

/// One plan with its gradient, on buffers of the page's own: the values (total first, then
/// each term) and the gradient, read back without blocking.
async fn run_plan(engine: &Engine, desc: PlanDesc, x: &[f32], targets: &[u8]) -> segloss::Result<(Vec<f32>, Vec<f32>)> {
    let plan = engine.plan(desc.with_gradient())?;
    let (device, queue) = engine.device().expect("Engine::new_async gives a GPU engine");
    let buffer = |size: u64, usage: wgpu::BufferUsages| {
        device.create_buffer(&wgpu::BufferDescriptor { label: None, size, usage, mapped_at_creation: false })
    };
    let storage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC;
    let staging = wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST;
    let bytes = x.len() as u64 * 4;
    // Buffer sizes and writes are whole words: a u8 class map is padded with zeros.
    let mut padded = targets.to_vec();
    padded.resize(targets.len().next_multiple_of(4), 0);
    let values_bytes = plan.desc().values_bytes();
    let (xb, gb, vb) = (buffer(bytes, storage), buffer(bytes, storage), buffer(values_bytes, storage));
    let tb = buffer(padded.len() as u64, storage);
    let (vs, gs) = (buffer(values_bytes, staging), buffer(bytes, staging));
    queue.write_buffer(&xb, 0, bytemuck::cast_slice(x));
    queue.write_buffer(&tb, 0, &padded);
    let mut encoder = device.create_command_encoder(&Default::default());
    let io = PlanIo {
        logits: BufferAt::new(&xb, 0),
        targets: BufferAt::new(&tb, 0),
        values: BufferAt::new(&vb, 0),
        grad: Some(BufferAt::new(&gb, 0)),
    };
    plan.encode(&mut encoder, &io)?;
    encoder.copy_buffer_to_buffer(&vb, 0, &vs, 0, Some(values_bytes));
    encoder.copy_buffer_to_buffer(&gb, 0, &gs, 0, Some(bytes));
    queue.submit([encoder.finish()]);
    let values: Vec<f32> = bytemuck::pod_collect_to_vec(&gpu::read_buffer_async(device, &vs, ..).await?);
    let grad: Vec<f32> = bytemuck::pod_collect_to_vec(&gpu::read_buffer_async(device, &gs, ..).await?);
    let terms = plan.desc().terms.len();
    Ok((values[..=terms].to_vec(), grad))
}
