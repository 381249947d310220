//! The blocking multiclass GPU path: chunks of whole images (or pixel ranges of one large
//! image, uploaded compacted), the softmax forward pass (`class_stats.wgsl` then
//! `stats_final.wgsl`), the confusion matrix, and the backward pass (`class_grad.wgsl`).

use super::context::GpuContext;
use super::layout::{GpuCoef, GpuSums, Params, COEF_BYTES, FLAG_IGNORE, SUMS_BYTES};
use super::plan::{self, ClassChunk};
use super::run::{DispatchCount, Want, STATUS_BYTES, STATUS_CLEAR};
use crate::batch::{ClassMap, MulticlassBatch};
use crate::error::{Error, Result};
use crate::stats::Stats;

/// Statistics rows, confusion matrix and (when asked) gradient of a multiclass run.
pub(crate) type ClassRun = (Vec<Stats>, Vec<u64>, Option<Vec<f32>>);

impl GpuContext {
    /// Per-(image, class) statistics and the confusion matrix of `batch`; with `want`, the
    /// gradient for per-row coefficients.
    pub(crate) fn run_classes(
        &self,
        batch: &MulticlassBatch,
        gamma: f64,
        want: Want,
        count: &mut DispatchCount,
    ) -> Result<ClassRun> {
        self.scoped(|| self.run_classes_unscoped(batch, gamma, want, count))
    }

    pub(super) fn class_params(&self, batch: &MulticlassBatch, chunk: &ClassChunk, gamma: f64) -> Params {
        let format = match batch.target {
            ClassMap::U32(_) => 0,
            ClassMap::U16(_) => 1,
            ClassMap::U8(_) => 2,
        };
        self.class_params_for(batch.classes, batch.ignore_index, format, chunk, gamma)
    }

    /// [`class_params`](Self::class_params) from its pieces (`format`: 0 u32, 1 u16, 2 u8).
    pub(crate) fn class_params_for(
        &self,
        classes: usize,
        ignore_index: Option<u32>,
        format: u32,
        chunk: &ClassChunk,
        gamma: f64,
    ) -> Params {
        let (flags, ignore_index) = match ignore_index {
            Some(i) => (FLAG_IGNORE, i),
            None => (0, 0),
        };
        Params {
            chunk_len: (chunk.n_images * chunk.plane) as u32,
            seg_len: chunk.plane as u32,
            n_seg: chunk.n_images as u32,
            wg_per_seg: plan::class_workgroups(chunk, classes, self.max_workgroups, self.binding_elems),
            flags,
            classes: classes as u32,
            focal_gamma: gamma as f32,
            target_format: format,
            ignore_index,
            ..Params::default()
        }
    }

    /// Uploads the chunk's logits ([image][class][pixel], compacted) and class map.
    pub(super) fn upload_classes(
        &self,
        batch: &MulticlassBatch,
        chunk: &ClassChunk,
        logits: &wgpu::Buffer,
        map: &wgpu::Buffer,
    ) {
        let (c, hw) = (batch.classes, batch.shape.pixels());
        if chunk.plane == hw {
            let range = chunk.first_image * c * hw..(chunk.first_image + chunk.n_images) * c * hw;
            self.queue.write_buffer(logits, 0, bytemuck::cast_slice(&batch.logits[range]));
        } else {
            for k in 0..c {
                let start = (chunk.first_image * c + k) * hw + chunk.pix0;
                let offset = (k * chunk.plane * 4) as u64;
                self.queue.write_buffer(
                    logits,
                    offset,
                    bytemuck::cast_slice(&batch.logits[start..start + chunk.plane]),
                );
            }
        }
        let first = chunk.first_image * hw + chunk.pix0;
        let bytes = batch.target.bytes(first..first + (chunk.n_images - 1) * hw + chunk.plane);
        if bytes.len() % 4 == 0 {
            self.queue.write_buffer(map, 0, bytes);
        } else {
            let mut padded = bytes.to_vec();
            padded.resize(bytes.len().next_multiple_of(4), 0);
            self.queue.write_buffer(map, 0, &padded);
        }
    }

    fn run_classes_unscoped(
        &self,
        batch: &MulticlassBatch,
        gamma: f64,
        want: Want,
        count: &mut DispatchCount,
    ) -> Result<ClassRun> {
        use wgpu::BufferUsages as U;
        let (c, hw) = (batch.classes, batch.shape.pixels());
        let chunks = plan::class_chunks(batch.shape.n, hw, c, self.binding_elems).map_err(Error::InvalidRequest)?;
        let lanes = plan::class_lanes(c) as u64;
        let max_pixels = chunks.iter().map(|ch| ch.n_images * ch.plane).max().unwrap_or(1) as u64;
        let max_images = chunks.iter().map(|ch| ch.n_images).max().unwrap_or(1) as u64;
        let max_rows = max_images * c as u64;
        let max_partials = chunks
            .iter()
            .map(|ch| {
                let wg = plan::class_workgroups(ch, c, self.max_workgroups, self.binding_elems) as u64;
                ch.n_images as u64 * c as u64 * wg * lanes
            })
            .max()
            .unwrap_or(1);
        let conf_bytes = (c * c * 4) as u64;
        let params = self.uniform();
        let final_params = self.uniform();
        let logits = self.storage("logits", max_pixels * c as u64 * 4, U::COPY_DST);
        let map = self.storage("class map", (max_pixels * 4).next_multiple_of(16), U::COPY_DST);
        let partials = self.storage("partials", max_partials * SUMS_BYTES, U::empty());
        let rows_buf = self.storage("rows", max_rows * SUMS_BYTES, U::COPY_SRC);
        let status = self.storage("status", STATUS_BYTES, U::COPY_DST | U::COPY_SRC);
        let confusion_buf = self.storage("confusion", conf_bytes, U::COPY_DST | U::COPY_SRC);
        let staging = self.staging(max_rows * SUMS_BYTES + STATUS_BYTES + conf_bytes);
        let mut rows = vec![Stats::default(); batch.shape.n * c];
        let mut confusion = vec![0u64; c * c];
        let forward = !matches!(want, Want::Backward(_));
        for chunk in chunks.iter().filter(|_| forward) {
            self.upload_classes(batch, chunk, &logits, &map);
            let p = self.class_params(batch, chunk, gamma);
            let n_rows = chunk.n_images * c;
            let fp = Params { n_seg: n_rows as u32, wg_per_seg: p.wg_per_seg * lanes as u32, ..p };
            self.queue.write_buffer(&params, 0, bytemuck::bytes_of(&p));
            self.queue.write_buffer(&final_params, 0, bytemuck::bytes_of(&fp));
            self.queue.write_buffer(&status, 0, bytemuck::cast_slice(&STATUS_CLEAR));
            let pl = &self.pipelines;
            let stats_bg =
                self.bind_group(&pl.class_stats_layout, &[&params, &logits, &map, &partials, &status, &confusion_buf]);
            let final_bg = self.bind_group(&pl.final_layout, &[&final_params, &partials, &rows_buf]);
            let mut encoder = self.device.create_command_encoder(&Default::default());
            encoder.clear_buffer(&confusion_buf, 0, None);
            {
                let mut pass = self.compute_pass(&mut encoder, "segloss multiclass forward");
                pass.set_pipeline(&pl.class_stats);
                pass.set_bind_group(0, &stats_bg, &[]);
                pass.dispatch_workgroups(p.wg_per_seg, p.n_seg, c.div_ceil(plan::WG_SIZE as usize) as u32);
                pass.set_pipeline(&pl.stats_final);
                pass.set_bind_group(0, &final_bg, &[]);
                let (x, y) = plan::fold(n_rows);
                pass.dispatch_workgroups(x, y, 1);
            }
            let rows_bytes = n_rows as u64 * SUMS_BYTES;
            encoder.copy_buffer_to_buffer(&rows_buf, 0, &staging, 0, Some(rows_bytes));
            encoder.copy_buffer_to_buffer(&status, 0, &staging, rows_bytes, Some(STATUS_BYTES));
            encoder.copy_buffer_to_buffer(&confusion_buf, 0, &staging, rows_bytes + STATUS_BYTES, Some(conf_bytes));
            self.queue.submit([encoder.finish()]);
            let bytes = self.read(&staging, rows_bytes + STATUS_BYTES + conf_bytes)?;
            count.forward_passes += 1;
            let (row_bytes, rest) = bytes.split_at(rows_bytes as usize);
            let (status_bytes, conf) = rest.split_at(STATUS_BYTES as usize);
            let bad: [u32; 2] = bytemuck::pod_read_unaligned(status_bytes);
            let global = |local: u32| {
                let (li, i) = (local as usize / chunk.plane, local as usize % chunk.plane);
                (chunk.first_image + li) * hw + chunk.pix0 + i
            };
            let bad = bad.map(|i| (i != u32::MAX).then(|| global(i)));
            if let Some(e) = batch.data_error(bad[0], bad[1]) {
                return Err(e);
            }
            let chunk_rows: Vec<GpuSums> = bytemuck::pod_collect_to_vec(row_bytes);
            for (r, row) in chunk_rows.iter().enumerate() {
                rows[chunk.first_image * c + r].merge(&Stats::from(row));
            }
            for (total, n) in confusion.iter_mut().zip(bytemuck::pod_collect_to_vec::<u8, u32>(conf)) {
                *total += n as u64;
            }
        }
        let per_row = match want {
            Want::Forward => return Ok((rows, confusion, None)),
            Want::ForwardBackward(f) => f(&rows),
            Want::Backward(given) => given.to_vec(),
        };
        let coef_buf = self.storage("coefficients", max_rows * COEF_BYTES, U::COPY_DST);
        let grad_buf = self.storage("grad", max_pixels * c as u64 * 4, U::COPY_SRC);
        let grad_staging = self.staging(max_pixels * c as u64 * 4);
        let mut grad = vec![0f32; batch.logits.len()];
        for chunk in &chunks {
            if chunks.len() > 1 || !forward {
                self.upload_classes(batch, chunk, &logits, &map);
            }
            let first_row = chunk.first_image * c;
            let coefs: Vec<GpuCoef> =
                per_row[first_row..first_row + chunk.n_images * c].iter().map(GpuCoef::from).collect();
            self.queue.write_buffer(&coef_buf, 0, bytemuck::cast_slice(&coefs));
            let pixels = chunk.n_images * chunk.plane;
            let workgroups = plan::elementwise_workgroups(pixels, self.max_workgroups);
            let p = Params { n_threads: workgroups * plan::WG_SIZE, ..self.class_params(batch, chunk, gamma) };
            self.queue.write_buffer(&params, 0, bytemuck::bytes_of(&p));
            let bg = self.bind_group(&self.pipelines.grad_layout, &[&params, &logits, &map, &coef_buf, &grad_buf]);
            let mut encoder = self.device.create_command_encoder(&Default::default());
            {
                let mut pass = self.compute_pass(&mut encoder, "segloss multiclass backward");
                pass.set_pipeline(&self.pipelines.class_grad);
                pass.set_bind_group(0, &bg, &[]);
                pass.dispatch_workgroups(workgroups, 1, 1);
            }
            let bytes = (pixels * c * 4) as u64;
            encoder.copy_buffer_to_buffer(&grad_buf, 0, &grad_staging, 0, Some(bytes));
            self.queue.submit([encoder.finish()]);
            let data: Vec<f32> = bytemuck::pod_collect_to_vec(&self.read(&grad_staging, bytes)?);
            count.backward_passes += 1;
            super::lovasz::place_chunk(&mut grad, &data, chunk, c, hw);
        }
        Ok((rows, confusion, Some(grad)))
    }
}
