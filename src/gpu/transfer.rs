//! Moving data between the host and the device: the blocking calls' uploads and readbacks,
//! in one of two ways (`Transfer`, chosen once per context in `GpuContext::new`).
//!
//! `Staged` is the GPU layout: the queue copies an upload into a staging area and from there
//! into the storage buffer; results are copied into a map-read staging buffer and mapped.
//! `Direct` is for adapters whose device memory is host memory (CPU adapters: lavapipe): the
//! host maps the storage buffers themselves (`Features::MAPPABLE_PRIMARY_BUFFERS`), one copy
//! each way. The kernels and the bytes they see are the same (`tests/transfer.rs`: the two
//! ways agree to the bit); measured in PERFORMANCE.md.

use super::context::GpuContext;
use super::pool::Pooled;
use crate::error::{Error, Result};

/// Uploads and readbacks.
impl GpuContext {
    /// Maps `buffer`, copies its first `size` bytes out and unmaps it.
    pub(crate) fn read(&self, buffer: &wgpu::Buffer, size: u64) -> Result<Vec<u8>> {
        self.read_with(buffer, size, <[u8]>::to_vec)
    }

    /// [`GpuContext::read`] without the copy: hands the mapped bytes to `f` in place.
    pub(crate) fn read_with<T>(&self, buffer: &wgpu::Buffer, size: u64, f: impl FnOnce(&[u8]) -> T) -> Result<T> {
        let slice = buffer.slice(..size);
        self.map_and_wait(&slice, wgpu::MapMode::Read, "mapping a result buffer")?;
        let out = f(&slice
            .get_mapped_range()
            .map_err(|e| Error::Gpu { during: "reading a result buffer", detail: e.to_string() })?);
        buffer.unmap();
        Ok(out)
    }

    /// Maps `slice` and waits until it is mapped (after the GPU work that uses it).
    fn map_and_wait(&self, slice: &wgpu::BufferSlice, mode: wgpu::MapMode, during: &'static str) -> Result<()> {
        let (tx, rx) = std::sync::mpsc::channel();
        slice.map_async(mode, move |r| {
            let _ = tx.send(r);
        });
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error::Gpu { during: "waiting for the GPU", detail: e.to_string() })?;
        rx.recv()
            .map_err(|e| Error::Gpu { during, detail: e.to_string() })?
            .map_err(|e| Error::Gpu { during, detail: e.to_string() })
    }

    /// A pooled storage buffer of at least `size` bytes for data the host uploads with
    /// [`GpuContext::write_input`] (`COPY_DST`, and `MAP_WRITE` where `direct_map`).
    pub(crate) fn input_buffer(&self, label: &'static str, size: u64) -> Pooled<'_> {
        use wgpu::BufferUsages as U;
        self.storage(label, size, if self.direct_map { U::COPY_DST | U::MAP_WRITE } else { U::COPY_DST })
    }

    /// Writes `data` (whole words) at byte `offset` (a multiple of 4) of an
    /// [`GpuContext::input_buffer`]: where `direct_map`, straight into the mapped buffer (one
    /// copy); else through the queue (a staging copy, then a copy on the device).
    pub(crate) fn write_input(&self, buffer: &wgpu::Buffer, offset: u64, data: &[u8]) -> Result<()> {
        if !self.direct_map {
            self.queue.write_buffer(buffer, offset, data);
            return Ok(());
        }
        let start = offset / wgpu::MAP_ALIGNMENT * wgpu::MAP_ALIGNMENT;
        let end = (offset + data.len() as u64).next_multiple_of(wgpu::COPY_BUFFER_ALIGNMENT);
        let slice = buffer.slice(start..end);
        self.map_and_wait(&slice, wgpu::MapMode::Write, "mapping an input buffer")?;
        {
            let mut view = slice
                .get_mapped_range_mut()
                .map_err(|e| Error::Gpu { during: "writing an input buffer", detail: e.to_string() })?;
            let at = (offset - start) as usize;
            view.slice(at..at + data.len()).copy_from_slice(data);
        }
        buffer.unmap();
        Ok(())
    }

    /// Reads `size` bytes of f32s from `buffer` (MAP_READ) straight into `put` (the mapped
    /// range is 8-byte aligned, so this is one copy; a misaligned range is collected first).
    pub(crate) fn read_f32_with(&self, buffer: &wgpu::Buffer, size: u64, put: impl FnOnce(&[f32])) -> Result<()> {
        self.read_with(buffer, size, |bytes| match bytemuck::try_cast_slice::<u8, f32>(bytes) {
            Ok(data) => put(data),
            Err(_) => put(&bytemuck::pod_collect_to_vec::<u8, f32>(bytes)),
        })
    }
}
