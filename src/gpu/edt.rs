//! GPU primitive: the exact Euclidean distance transform of a batch of 2-D or 3-D masks
//! (Felzenszwalb–Huttenlocher, separable): `edt_init` (0 on background, +inf on foreground),
//! then one `edt_axis` pass per spatial axis (one invocation per line, the lower envelope of
//! parabolas, in place, its stack in a scratch buffer). Squared distances in f32; mirrored
//! stage by stage by `reference::edt`.

use super::context::GpuContext;
use super::contract::{LANE_WG, WG_SIZE};
use super::sort::{dispatch, UniformArena};
use crate::error::{Error, Result};
use crate::grid::{Axis, Grid};
use bytemuck::{Pod, Zeroable};

/// Mirror of WGSL `EdtParams` (edt_common.wgsl).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, Pod, Zeroable)]
pub(crate) struct EdtParams {
    pub n: u32,
    pub n_threads: u32,
    pub len: u32,
    pub stride: u32,
    pub lines: u32,
    pub first_line: u32,
    pub spacing: f32,
    pub spacing_sq: f32,
}

/// Most lines one `edt_axis` dispatch takes: a row of 65535 workgroups.
const MAX_LINES: usize = 65535 * LANE_WG as usize;

/// Lines per `edt_axis` dispatch along `axis` when the scratch holds `entries` (site,
/// value) pairs: each line needs `len` of them.
fn lines_per_dispatch(axis: &Axis, entries: usize) -> usize {
    axis.lines.min(entries / axis.len).clamp(1, MAX_LINES)
}

/// `Err` unless the distances and one line's scratch fit one storage binding.
fn check_size(ctx: &GpuContext, grid: &Grid) -> Result<()> {
    let n = grid.voxels();
    let max = ctx.binding_elems;
    if n > max {
        return Err(Error::InvalidRequest(format!(
            "distance transform of {n} voxels: at most {max} fit one storage binding on this device"
        )));
    }
    let longest = grid.axes().iter().map(|a| a.len).max().unwrap_or(0);
    if 2 * longest > max {
        return Err(Error::InvalidRequest(format!(
            "distance transform: a line of {longest} voxels needs {} scratch words, more than one storage binding \
             ({max}) on this device",
            2 * longest
        )));
    }
    Ok(())
}

/// The squared distance transform on the GPU (see `Engine::squared_distance_transform`).
/// `mask` has `grid.voxels()` bytes (checked by `Grid::new`).
pub(crate) fn squared_distance_transform(ctx: &GpuContext, mask: &[u8], grid: &Grid) -> Result<Vec<f32>> {
    use wgpu::BufferUsages as U;
    let n = grid.voxels();
    debug_assert_eq!(mask.len(), n);
    if n == 0 {
        return Ok(Vec::new());
    }
    check_size(ctx, grid)?;
    let axes = grid.axes();
    // Scratch: (site, value) pairs, 8 bytes each, at most half a binding of words.
    let entries = n.min(ctx.binding_elems / 2);
    let splits: Vec<usize> = axes.iter().map(|a| lines_per_dispatch(a, entries)).collect();
    let scratch_entries = axes.iter().zip(&splits).map(|(a, &per)| a.len * per).max().unwrap_or(1);
    let slots = 1 + axes.iter().zip(&splits).map(|(a, &per)| a.lines.div_ceil(per)).sum::<usize>();
    ctx.scoped(|| {
        let e = &ctx.pipelines.edt;
        let bytes = (n * 4) as u64;
        let mask_buf = ctx.storage("edt mask", n.div_ceil(4) as u64 * 4, U::COPY_DST);
        let head = n & !3;
        if head > 0 {
            ctx.queue.write_buffer(&mask_buf, 0, &mask[..head]);
        }
        if head < n {
            let mut tail = [0u8; 4];
            tail[..n - head].copy_from_slice(&mask[head..]);
            ctx.queue.write_buffer(&mask_buf, head as u64, &tail);
        }
        let dist = ctx.storage("edt distances", bytes, U::COPY_SRC);
        let scratch = ctx.storage("edt scratch", scratch_entries as u64 * 8, U::empty());
        let mut arena = UniformArena::new(ctx, slots);
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        {
            let mut pass = ctx.compute_pass(&mut encoder, "distance transform");
            let workgroups = n.div_ceil(WG_SIZE as usize).min(ctx.max_workgroups as usize) as u32;
            let p = EdtParams { n: n as u32, n_threads: workgroups * WG_SIZE, ..Default::default() };
            dispatch(ctx, &mut pass, &e.init, &e.init_layout, arena.push(&p), &[&mask_buf, &dist], workgroups);
            for (axis, &per) in axes.iter().zip(&splits) {
                let mut first = 0;
                while first < axis.lines {
                    let lines = per.min(axis.lines - first);
                    let s = axis.spacing as f32;
                    let p = EdtParams {
                        len: axis.len as u32,
                        stride: axis.stride as u32,
                        lines: lines as u32,
                        first_line: first as u32,
                        spacing: s,
                        spacing_sq: s * s,
                        ..Default::default()
                    };
                    let wgs = lines.div_ceil(LANE_WG as usize) as u32;
                    dispatch(ctx, &mut pass, &e.axis, &e.axis_layout, arena.push(&p), &[&dist, &scratch], wgs);
                    first += lines;
                }
            }
        }
        let staging = ctx.staging(bytes);
        encoder.copy_buffer_to_buffer(&dist, 0, &staging, 0, Some(bytes));
        arena.upload(&ctx.queue);
        ctx.queue.submit([encoder.finish()]);
        Ok(bytemuck::pod_collect_to_vec(&ctx.read(&staging, bytes)?))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::shaders::{compare_layouts, validate, Kernel};

    /// `EdtParams`: the Rust mirror and the WGSL struct have the same size and field offsets.
    #[test]
    fn edt_params_match_the_wgsl_struct() {
        use std::mem::{offset_of, size_of};
        let fields = ["n", "n_threads", "len", "stride", "lines", "first_line", "spacing", "spacing_sq"];
        let offsets = [
            offset_of!(EdtParams, n),
            offset_of!(EdtParams, n_threads),
            offset_of!(EdtParams, len),
            offset_of!(EdtParams, stride),
            offset_of!(EdtParams, lines),
            offset_of!(EdtParams, first_line),
            offset_of!(EdtParams, spacing),
            offset_of!(EdtParams, spacing_sq),
        ];
        let mirror = vec![(
            "EdtParams",
            size_of::<EdtParams>(),
            fields.iter().zip(offsets).map(|(f, o)| (f.to_string(), o)).collect(),
        )];
        for k in [Kernel::EdtInit, Kernel::EdtAxis] {
            let module = validate(k.name(), &k.source(), false).unwrap();
            compare_layouts(&module, &mirror).unwrap();
        }
    }

    #[test]
    fn dispatches_split_lines_to_fit_the_scratch() {
        let axis = Axis { len: 100, stride: 1, lines: 1000, spacing: 1.0 };
        assert_eq!(lines_per_dispatch(&axis, 100_000), 1000);
        assert_eq!(lines_per_dispatch(&axis, 25_050), 250);
        assert_eq!(lines_per_dispatch(&axis, 100), 1);
    }
}
