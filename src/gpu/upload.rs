//! Moving multiclass chunks between the batch's [N, C, H, W] layout on the host and the
//! compacted [image][class][pixel] layout a chunk has on the GPU (whole images, or a pixel
//! range of one image larger than a binding).

use super::chunk::ClassChunk;
use super::context::GpuContext;
use crate::batch::MulticlassBatch;
use crate::error::Result;

/// Uploads a multiclass chunk's logits ([image][class][pixel], compacted) and class map
/// (buffers from `GpuContext::input_buffer`).
pub(super) fn class_chunk(
    ctx: &GpuContext,
    batch: &MulticlassBatch,
    chunk: &ClassChunk,
    logits: &wgpu::Buffer,
    map: &wgpu::Buffer,
) -> Result<()> {
    let (c, hw) = (batch.classes, batch.shape.pixels());
    if chunk.plane == hw {
        let range = chunk.first_image * c * hw..(chunk.first_image + chunk.n_images) * c * hw;
        ctx.write_input(logits, 0, bytemuck::cast_slice(&batch.logits[range]))?;
    } else {
        for k in 0..c {
            let start = (chunk.first_image * c + k) * hw + chunk.pix0;
            let offset = (k * chunk.plane * 4) as u64;
            ctx.write_input(logits, offset, bytemuck::cast_slice(&batch.logits[start..start + chunk.plane]))?;
        }
    }
    let first = chunk.first_image * hw + chunk.pix0;
    let bytes = batch.target.bytes(first..first + (chunk.n_images - 1) * hw + chunk.plane);
    if bytes.len() % 4 == 0 {
        ctx.write_input(map, 0, bytes)
    } else {
        let mut padded = bytes.to_vec();
        padded.resize(bytes.len().next_multiple_of(4), 0);
        ctx.write_input(map, 0, &padded)
    }
}

/// Copies a [image][class][pixel] chunk into the batch's [N, C, H, W] layout.
pub(super) fn place_class_chunk(out: &mut [f32], data: &[f32], ch: &ClassChunk, c: usize, hw: usize) {
    if ch.plane == hw {
        let start = ch.first_image * c * hw;
        out[start..start + data.len()].copy_from_slice(data);
    } else {
        for k in 0..c {
            let start = (ch.first_image * c + k) * hw + ch.pix0;
            out[start..start + ch.plane].copy_from_slice(&data[k * ch.plane..(k + 1) * ch.plane]);
        }
    }
}
