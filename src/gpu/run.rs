//! The blocking GPU path: upload a batch chunk by chunk, run the fused forward pass (and,
//! when asked, the backward pass), read the results back. Every call runs inside wgpu error
//! scopes, so a GPU error becomes an `Err`, never a panic.

use super::context::GpuContext;
use super::layout::{GpuCoef, GpuSums, Params, COEF_BYTES, PARAMS_BYTES, SUMS_BYTES};
use super::plan::{self, Chunk};
use super::pool::Pooled;
use crate::batch::BinaryBatch;
use crate::error::{Error, Result};
use crate::loss::{Coefficients, PixelParams};
use crate::stats::Stats;

/// Buffers of one call, sized for its largest chunk.
struct Workspace<'a> {
    params: Pooled<'a>,
    input: Pooled<'a>,
    target: Pooled<'a>,
    partials: Pooled<'a>,
    rows: Pooled<'a>,
    status: Pooled<'a>,
    staging: Pooled<'a>,
}

pub(super) const STATUS_BYTES: u64 = 8;
pub(super) const STATUS_CLEAR: [u32; 2] = [u32::MAX; 2];

/// What a run computes.
pub(crate) enum Want<'a> {
    /// Statistics only.
    Forward,
    /// Statistics, then the gradient for the per-image coefficients of those statistics.
    ForwardBackward(&'a dyn Fn(&[Stats]) -> Vec<Coefficients>),
    /// The gradient for given per-image coefficients (no forward pass).
    Backward(&'a [Coefficients]),
}

/// Counts of what a call dispatched (used by tests to show one pass serves every loss).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DispatchCount {
    /// Passes of the fused forward kernel over the data (one per chunk).
    pub forward_passes: usize,
    /// Passes of the backward kernel over the data (one per chunk).
    pub backward_passes: usize,
}

impl GpuContext {
    /// Binding limit in bytes (pool size classes stay under it).
    fn binding_bytes(&self) -> u64 {
        self.binding_elems as u64 * 4
    }

    pub(crate) fn uniform(&self) -> Pooled<'_> {
        use wgpu::BufferUsages as U;
        self.pool.take(&self.device, "params", PARAMS_BYTES, U::UNIFORM | U::COPY_DST, self.binding_bytes())
    }

    pub(crate) fn staging(&self, size: u64) -> Pooled<'_> {
        use wgpu::BufferUsages as U;
        self.pool.take(&self.device, "staging", size, U::MAP_READ | U::COPY_DST, self.binding_bytes())
    }

    pub(crate) fn storage(&self, label: &'static str, size: u64, usage: wgpu::BufferUsages) -> Pooled<'_> {
        self.pool.take(&self.device, label, size, wgpu::BufferUsages::STORAGE | usage, self.binding_bytes())
    }

    fn workspace(&self, chunks: &[Chunk], seg_len: usize) -> Workspace<'_> {
        use wgpu::BufferUsages as U;
        let (max_len, max_seg) = plan::largest(chunks);
        let (max_len, max_seg) = (max_len as u64, max_seg as u64);
        let max_partials = chunks
            .iter()
            .map(|c| {
                c.n_seg as u64
                    * plan::workgroups_per_segment(c, seg_len, self.max_workgroups, self.binding_elems) as u64
            })
            .max()
            .unwrap_or(1);
        let rows_bytes = max_seg * SUMS_BYTES;
        Workspace {
            params: self.uniform(),
            input: self.storage("input", max_len * 4, U::COPY_DST),
            target: self.storage("target", max_len * 4, U::COPY_DST),
            partials: self.storage("partials", max_partials * SUMS_BYTES, U::empty()),
            rows: self.storage("rows", rows_bytes, U::COPY_SRC),
            status: self.storage("status", STATUS_BYTES, U::COPY_DST | U::COPY_SRC),
            staging: self.staging(rows_bytes + STATUS_BYTES),
        }
    }

    pub(crate) fn chunk_params(&self, base: &Params, chunk: &Chunk, seg_len: usize) -> Params {
        Params {
            chunk_len: chunk.len as u32,
            seg_offset: chunk.seg_offset as u32,
            n_seg: chunk.n_seg as u32,
            wg_per_seg: plan::workgroups_per_segment(chunk, seg_len, self.max_workgroups, self.binding_elems),
            ..*base
        }
    }

    fn upload(&self, ws: &Workspace, batch: &BinaryBatch, chunk: &Chunk) {
        let range = chunk.start..chunk.start + chunk.len;
        self.queue.write_buffer(&ws.input, 0, bytemuck::cast_slice(&batch.input[range.clone()]));
        self.queue.write_buffer(&ws.target, 0, bytemuck::cast_slice(&batch.target[range]));
    }

    /// Runs the forward pass over one chunk; returns its per-segment rows and the
    /// chunk-local indices of the first bad input and target element.
    fn forward_chunk(&self, ws: &Workspace, p: &Params) -> Result<(Vec<GpuSums>, [u32; 2])> {
        self.queue.write_buffer(&ws.params, 0, bytemuck::bytes_of(p));
        self.queue.write_buffer(&ws.status, 0, bytemuck::cast_slice(&STATUS_CLEAR));
        let pl = &self.pipelines;
        let stats_bg =
            self.bind_group(&pl.stats_layout, &[&ws.params, &ws.input, &ws.target, &ws.partials, &ws.status]);
        let final_bg = self.bind_group(&pl.final_layout, &[&ws.params, &ws.partials, &ws.rows]);
        let mut encoder = self.device.create_command_encoder(&Default::default());
        {
            let mut pass = self.compute_pass(&mut encoder, "segloss forward");
            pass.set_pipeline(&pl.stats_partials);
            pass.set_bind_group(0, &stats_bg, &[]);
            pass.dispatch_workgroups(p.wg_per_seg, p.n_seg, 1);
            pass.set_pipeline(&pl.stats_final);
            pass.set_bind_group(0, &final_bg, &[]);
            let (x, y) = plan::fold(p.n_seg as usize);
            pass.dispatch_workgroups(x, y, 1);
        }
        let rows_bytes = p.n_seg as u64 * SUMS_BYTES;
        encoder.copy_buffer_to_buffer(&ws.rows, 0, &ws.staging, 0, Some(rows_bytes));
        encoder.copy_buffer_to_buffer(&ws.status, 0, &ws.staging, rows_bytes, Some(STATUS_BYTES));
        self.queue.submit([encoder.finish()]);
        let bytes = self.read(&ws.staging, rows_bytes + STATUS_BYTES)?;
        let (rows, status) = bytes.split_at(rows_bytes as usize);
        let status: [u32; 2] = bytemuck::pod_read_unaligned(status);
        Ok((bytemuck::pod_collect_to_vec(rows), status))
    }

    pub(crate) fn bind_group(&self, layout: &wgpu::BindGroupLayout, buffers: &[&wgpu::Buffer]) -> wgpu::BindGroup {
        let entries: Vec<_> = buffers
            .iter()
            .enumerate()
            .map(|(i, b)| wgpu::BindGroupEntry { binding: i as u32, resource: b.as_entire_binding() })
            .collect();
        self.device.create_bind_group(&wgpu::BindGroupDescriptor { label: None, layout, entries: &entries })
    }

    /// Maps `buffer`, copies its first `size` bytes out and unmaps it.
    pub(crate) fn read(&self, buffer: &wgpu::Buffer, size: u64) -> Result<Vec<u8>> {
        let slice = buffer.slice(..size);
        let (tx, rx) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error::Gpu { during: "waiting for the GPU", detail: e.to_string() })?;
        rx.recv()
            .map_err(|e| Error::Gpu { during: "mapping a result buffer", detail: e.to_string() })?
            .map_err(|e| Error::Gpu { during: "mapping a result buffer", detail: e.to_string() })?;
        let data = slice
            .get_mapped_range()
            .map_err(|e| Error::Gpu { during: "reading a result buffer", detail: e.to_string() })?
            .to_vec();
        buffer.unmap();
        Ok(data)
    }

    /// Runs `f` inside Validation and OutOfMemory error scopes: a GPU error becomes `Err`.
    pub(crate) fn scoped<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
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

    /// Per-segment statistics of a binary or multilabel `batch`; with `want`, also the
    /// gradient for the per-segment coefficients.
    pub(crate) fn run(
        &self,
        batch: &BinaryBatch,
        pp: &PixelParams,
        want: Want,
        count: &mut DispatchCount,
    ) -> Result<(Vec<Stats>, Option<Vec<f32>>)> {
        self.scoped(|| self.run_unscoped(batch, pp, want, count))
    }

    fn run_unscoped(
        &self,
        batch: &BinaryBatch,
        pp: &PixelParams,
        want: Want,
        count: &mut DispatchCount,
    ) -> Result<(Vec<Stats>, Option<Vec<f32>>)> {
        let seg_len = batch.shape.pixels();
        let chunks = plan::chunks(batch.input.len(), seg_len, plan::max_chunk_len(seg_len, self.binding_elems));
        let ws = self.workspace(&chunks, seg_len);
        let base = Params::new(batch, pp);
        let mut images = vec![Stats::default(); batch.segments()];
        let forward = !matches!(want, Want::Backward(_));
        for chunk in chunks.iter().filter(|_| forward) {
            self.upload(&ws, batch, chunk);
            let p = self.chunk_params(&base, chunk, seg_len);
            let (rows, status) = self.forward_chunk(&ws, &p)?;
            count.forward_passes += 1;
            let bad = status.map(|i| (i != u32::MAX).then(|| chunk.start + i as usize));
            if let Some(e) = batch.data_error(bad[0], bad[1]) {
                return Err(e);
            }
            for (s, row) in rows.iter().enumerate() {
                images[chunk.first_seg + s].merge(&Stats::from(row));
            }
        }
        let per_image = match want {
            Want::Forward => return Ok((images, None)),
            Want::ForwardBackward(f) => f(&images),
            Want::Backward(given) => given.to_vec(),
        };
        let mut grad = vec![0f32; batch.input.len()];
        let (max_len, max_seg) = plan::largest(&chunks);
        let (max_len, max_seg) = (max_len as u64, max_seg as u64);
        let coef_buf = self.storage("coefficients", max_seg * COEF_BYTES, wgpu::BufferUsages::COPY_DST);
        let grad_buf = self.storage("grad", max_len * 4, wgpu::BufferUsages::COPY_SRC);
        let staging = self.staging(max_len * 4);
        for chunk in &chunks {
            if chunks.len() > 1 || !forward {
                self.upload(&ws, batch, chunk);
            }
            let coefs: Vec<GpuCoef> =
                per_image[chunk.first_seg..chunk.first_seg + chunk.n_seg].iter().map(GpuCoef::from).collect();
            self.queue.write_buffer(&coef_buf, 0, bytemuck::cast_slice(&coefs));
            let workgroups = plan::elementwise_workgroups(chunk.len, self.max_workgroups);
            let p = Params { n_threads: workgroups * plan::WG_SIZE, ..self.chunk_params(&base, chunk, seg_len) };
            self.queue.write_buffer(&ws.params, 0, bytemuck::bytes_of(&p));
            let bg = self
                .bind_group(&self.pipelines.grad_layout, &[&ws.params, &ws.input, &ws.target, &coef_buf, &grad_buf]);
            let mut encoder = self.device.create_command_encoder(&Default::default());
            {
                let mut pass = self.compute_pass(&mut encoder, "segloss backward");
                pass.set_pipeline(&self.pipelines.grad);
                pass.set_bind_group(0, &bg, &[]);
                pass.dispatch_workgroups(workgroups, 1, 1);
            }
            let bytes = chunk.len as u64 * 4;
            encoder.copy_buffer_to_buffer(&grad_buf, 0, &staging, 0, Some(bytes));
            self.queue.submit([encoder.finish()]);
            let data = self.read(&staging, bytes)?;
            grad[chunk.start..chunk.start + chunk.len].copy_from_slice(&bytemuck::pod_collect_to_vec::<u8, f32>(&data));
            count.backward_passes += 1;
        }
        Ok((images, Some(grad)))
    }
}
