//! The roofline kernels of the benchmarks: a read-once reduce and a read-and-write copy over
//! the same bytes as a loss call, timed on the same adapter.

use super::context::GpuContext;
use crate::error::{Error, Result};

/// Seconds of the roofline kernels over `input_bytes` read and `output_elems` f32 written:
/// (read-once reduce, read-and-write copy, measured on the GPU's clock?). The median of
/// `reps` runs each, after one warm-up.
pub(crate) fn roofline(ctx: &GpuContext, input_bytes: u64, output_elems: u64, reps: usize) -> Result<(f64, f64, bool)> {
    use super::chunk;
    use super::contract::Params;
    use wgpu::BufferUsages as U;
    let words = input_bytes.div_ceil(16);
    let data = ctx.storage("roofline input", words * 16, U::empty());
    let out = ctx.storage("roofline output", output_elems.max(1) * 4, U::empty());
    let partials = ctx.storage("roofline partials", ctx.max_workgroups as u64 * 4, U::empty());
    let params = ctx.uniform();
    let time = |copy: bool| -> Result<f64> {
        let n = if copy { words.max(output_elems) } else { words } as usize;
        let workgroups = chunk::elementwise_workgroups(n, ctx.max_workgroups);
        let p = Params {
            chunk_len: if copy { output_elems } else { words } as u32,
            seg_len: words as u32,
            n_threads: workgroups * chunk::WG_SIZE,
            ..Params::default()
        };
        ctx.queue.write_buffer(&params, 0, bytemuck::bytes_of(&p));
        let (pipeline, target) =
            if copy { (&ctx.pipelines.roofline_copy, &out) } else { (&ctx.pipelines.roofline_reduce, &partials) };
        let bg = ctx.bind_group(&ctx.pipelines.final_layout, &[&params, &data, target]);
        let mut samples = Vec::new();
        for _ in 0..reps + 1 {
            let start = std::time::Instant::now();
            let mut encoder = ctx.device.create_command_encoder(&Default::default());
            {
                let mut pass = ctx.compute_pass(&mut encoder, "roofline");
                pass.set_pipeline(pipeline);
                pass.set_bind_group(0, &bg, &[]);
                pass.dispatch_workgroups(workgroups, 1, 1);
            }
            ctx.queue.submit([encoder.finish()]);
            ctx.device
                .poll(wgpu::PollType::wait_indefinitely())
                .map_err(|e| Error::Gpu { during: "roofline", detail: e.to_string() })?;
            let host = start.elapsed().as_secs_f64();
            ctx.collect_gpu_time()?;
            samples.push(ctx.take_gpu_time().unwrap_or(host));
        }
        samples.remove(0);
        samples.sort_by(f64::total_cmp);
        Ok(samples[samples.len() / 2])
    };
    let reduce = ctx.scoped(|| time(false))?;
    let copy = ctx.scoped(|| time(true))?;
    Ok((reduce, copy, ctx.profiler.is_some()))
}
