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

impl GpuContext {
    /// Begins a compute pass, with timestamps when profiling.
    pub(crate) fn compute_pass<'e>(&self, encoder: &'e mut wgpu::CommandEncoder, label: &str) -> wgpu::ComputePass<'e> {
        let writes = self.profiler.as_ref().and_then(|p| {
            let at = p.next.fetch_add(2, Ordering::Relaxed);
            if at + 2 > QUERIES {
                p.overflow.store(true, Ordering::Relaxed);
                return None;
            }
            Some(wgpu::ComputePassTimestampWrites {
                query_set: &p.queries,
                beginning_of_pass_write_index: Some(at),
                end_of_pass_write_index: Some(at + 1),
            })
        });
        encoder.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some(label), timestamp_writes: writes })
    }

    /// Resolves this call's timestamps and adds their pass durations to the running total.
    pub(crate) fn collect_gpu_time(&self) -> Result<()> {
        let Some(p) = &self.profiler else { return Ok(()) };
        let used = p.next.swap(0, Ordering::Relaxed).min(QUERIES);
        let overflow = p.overflow.swap(false, Ordering::Relaxed);
        let mut total =
            p.total.lock().map_err(|_| Error::Gpu { during: "profiling", detail: "lock poisoned".into() })?;
        if overflow {
            *total = None;
        }
        if used == 0 || total.is_none() {
            return Ok(());
        }
        let mut encoder = self.device.create_command_encoder(&Default::default());
        encoder.resolve_query_set(&p.queries, 0..used, &p.resolve, 0);
        encoder.copy_buffer_to_buffer(&p.resolve, 0, &p.readback, 0, Some(used as u64 * 8));
        self.queue.submit([encoder.finish()]);
        let ticks: Vec<u64> = bytemuck::pod_collect_to_vec(&self.read(&p.readback, used as u64 * 8)?);
        let period = self.queue.get_timestamp_period() as f64 * 1e-9;
        let seconds: f64 = ticks.chunks(2).map(|pair| pair[1].saturating_sub(pair[0]) as f64 * period).sum();
        *total = total.map(|t| t + seconds);
        Ok(())
    }

    /// GPU seconds of the compute passes since the last call (None without profiling, or if a
    /// call recorded more passes than one query set holds).
    pub(crate) fn take_gpu_time(&self) -> Option<f64> {
        let p = self.profiler.as_ref()?;
        let mut total = p.total.lock().ok()?;
        total.replace(0.0)
    }
}

impl GpuContext {
    /// Seconds of the roofline kernels over `input_bytes` read and `output_elems` f32 written:
    /// (read-once reduce, read-and-write copy, measured on the GPU's clock?). The median of
    /// `reps` runs each, after one warm-up.
    pub(crate) fn roofline(&self, input_bytes: u64, output_elems: u64, reps: usize) -> Result<(f64, f64, bool)> {
        use super::chunk;
        use super::contract::Params;
        use wgpu::BufferUsages as U;
        let words = input_bytes.div_ceil(16);
        let data = self.storage("roofline input", words * 16, U::empty());
        let out = self.storage("roofline output", output_elems.max(1) * 4, U::empty());
        let partials = self.storage("roofline partials", self.max_workgroups as u64 * 4, U::empty());
        let params = self.uniform();
        let time = |copy: bool| -> Result<f64> {
            let n = if copy { words.max(output_elems) } else { words } as usize;
            let workgroups = chunk::elementwise_workgroups(n, self.max_workgroups);
            let p = Params {
                chunk_len: if copy { output_elems } else { words } as u32,
                seg_len: words as u32,
                n_threads: workgroups * chunk::WG_SIZE,
                ..Params::default()
            };
            self.queue.write_buffer(&params, 0, bytemuck::bytes_of(&p));
            let (pipeline, target) =
                if copy { (&self.pipelines.roofline_copy, &out) } else { (&self.pipelines.roofline_reduce, &partials) };
            let bg = self.bind_group(&self.pipelines.final_layout, &[&params, &data, target]);
            let mut samples = Vec::new();
            for _ in 0..reps + 1 {
                let start = std::time::Instant::now();
                let mut encoder = self.device.create_command_encoder(&Default::default());
                {
                    let mut pass = self.compute_pass(&mut encoder, "roofline");
                    pass.set_pipeline(pipeline);
                    pass.set_bind_group(0, &bg, &[]);
                    pass.dispatch_workgroups(workgroups, 1, 1);
                }
                self.queue.submit([encoder.finish()]);
                self.device
                    .poll(wgpu::PollType::wait_indefinitely())
                    .map_err(|e| Error::Gpu { during: "roofline", detail: e.to_string() })?;
                let host = start.elapsed().as_secs_f64();
                self.collect_gpu_time()?;
                samples.push(self.take_gpu_time().unwrap_or(host));
            }
            samples.remove(0);
            samples.sort_by(f64::total_cmp);
            Ok(samples[samples.len() / 2])
        };
        let reduce = self.scoped(|| time(false))?;
        let copy = self.scoped(|| time(true))?;
        Ok((reduce, copy, self.profiler.is_some()))
    }
}
