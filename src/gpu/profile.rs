//! GPU timing with timestamp queries: every compute pass segloss records gets a begin and an
//! end timestamp when profiling is on (`EngineOptions::profile` on a device with
//! `Features::TIMESTAMP_QUERY`); at the end of each blocking call the timestamps are
//! resolved, read back and summed. Only compute passes are timed: uploads, the copies into
//! readback buffers and the mapping are not.

use super::context::GpuContext;
use crate::error::{Error, Result};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Mutex;

/// Timestamp pairs one blocking call can record before timing is given up for that call.
const QUERIES: u32 = wgpu::QUERY_SET_MAX_QUERIES;

pub(crate) struct Profiler {
    queries: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    readback: wgpu::Buffer,
    next: AtomicU32,
    overflow: AtomicBool,
    /// GPU seconds measured since the last `take_gpu_time`, or None once a call overflowed.
    total: Mutex<Option<f64>>,
}

impl Profiler {
    pub fn new(device: &wgpu::Device) -> Profiler {
        let bytes = QUERIES as u64 * 8;
        Profiler {
            queries: device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("segloss timestamps"),
                ty: wgpu::QueryType::Timestamp,
                count: QUERIES,
            }),
            resolve: device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("timestamp resolve"),
                size: bytes,
                usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            }),
            readback: device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("timestamp readback"),
                size: bytes,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }),
            next: AtomicU32::new(0),
            overflow: AtomicBool::new(false),
            total: Mutex::new(Some(0.0)),
        }
    }
}

impl Profiler {
    /// The timestamp writes of the next compute pass (None once this call's query set is full).
    pub fn timestamp_writes(&self) -> Option<wgpu::ComputePassTimestampWrites<'_>> {
        let at = self.next.fetch_add(2, Ordering::Relaxed);
        if at + 2 > QUERIES {
            self.overflow.store(true, Ordering::Relaxed);
            return None;
        }
        Some(wgpu::ComputePassTimestampWrites {
            query_set: &self.queries,
            beginning_of_pass_write_index: Some(at),
            end_of_pass_write_index: Some(at + 1),
        })
    }

    /// Resolves this call's timestamps and adds their pass durations to the running total.
    pub fn collect(&self, ctx: &GpuContext) -> Result<()> {
        let used = self.next.swap(0, Ordering::Relaxed).min(QUERIES);
        let overflow = self.overflow.swap(false, Ordering::Relaxed);
        let mut total =
            self.total.lock().map_err(|_| Error::Gpu { during: "profiling", detail: "lock poisoned".into() })?;
        if overflow {
            *total = None;
        }
        if used == 0 || total.is_none() {
            return Ok(());
        }
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        encoder.resolve_query_set(&self.queries, 0..used, &self.resolve, 0);
        encoder.copy_buffer_to_buffer(&self.resolve, 0, &self.readback, 0, Some(used as u64 * 8));
        ctx.queue.submit([encoder.finish()]);
        let ticks: Vec<u64> = bytemuck::pod_collect_to_vec(&ctx.read(&self.readback, used as u64 * 8)?);
        let period = ctx.queue.get_timestamp_period() as f64 * 1e-9;
        let seconds: f64 = ticks.chunks(2).map(|pair| pair[1].saturating_sub(pair[0]) as f64 * period).sum();
        *total = total.map(|t| t + seconds);
        Ok(())
    }

    /// GPU seconds since the last call (None if a call overflowed the query set).
    pub fn take(&self) -> Option<f64> {
        self.total.lock().ok()?.replace(0.0)
    }
}

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
