//! Reading a GPU buffer back without blocking: for the web (wasm32, WebGPU), where the
//! blocking readback of the forward and backward calls cannot run, and for async callers.

use crate::error::{Error, Result};
use std::future::Future;
use std::ops::{Bound, RangeBounds};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

/// Copies `range` (bytes; `..` for all) of `buffer` out of GPU memory without blocking.
///
/// `buffer` needs `BufferUsages::MAP_READ` (copy a storage buffer into such a staging buffer
/// first, and submit the copy), `range` must be non-empty, start at a multiple of 8 and span
/// a multiple of 4 bytes; otherwise an [`Error::Gpu`] is returned before anything is mapped.
/// The buffer is unmapped again before the future resolves.
///
/// On the web the mapping completes from the browser's event loop. On native, each poll of
/// the future polls the device without waiting (`PollType::Poll`) and, while the mapping is
/// pending, yields the thread and asks to be polled again: an executor such as
/// `pollster::block_on` therefore spins (yielding) until the GPU is done.
pub async fn read_buffer_async(
    device: &wgpu::Device,
    buffer: &wgpu::Buffer,
    range: impl RangeBounds<wgpu::BufferAddress>,
) -> Result<Vec<u8>> {
    let start = match range.start_bound() {
        Bound::Included(&s) => s,
        Bound::Excluded(&s) => s.saturating_add(1),
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(&e) => e.saturating_add(1),
        Bound::Excluded(&e) => e,
        Bound::Unbounded => buffer.size(),
    };
    let during = "reading a buffer back";
    if !buffer.usage().contains(wgpu::BufferUsages::MAP_READ) {
        return Err(Error::Gpu { during, detail: format!("the buffer's usage {:?} lacks MAP_READ", buffer.usage()) });
    }
    if start >= end || end > buffer.size() || start % wgpu::MAP_ALIGNMENT != 0 || (end - start) % 4 != 0 {
        return Err(Error::Gpu {
            during,
            detail: format!(
                "range {start}..{end} of a {}-byte buffer: it must be non-empty, inside the buffer, \
                 start at a multiple of {} and span a multiple of 4 bytes",
                buffer.size(),
                wgpu::MAP_ALIGNMENT
            ),
        });
    }
    let slice = buffer.slice(start..end);
    let shared = Arc::new(Mutex::new(Mapping { result: None, waker: None }));
    let callback_state = Arc::clone(&shared);
    slice.map_async(wgpu::MapMode::Read, move |r| {
        let mut state = callback_state.lock().unwrap_or_else(|e| e.into_inner());
        state.result = Some(r);
        if let Some(waker) = state.waker.take() {
            waker.wake();
        }
    });
    MapFuture { device, shared }.await?;
    let data = slice.get_mapped_range().map_err(|e| Error::Gpu { during, detail: e.to_string() })?.to_vec();
    buffer.unmap();
    Ok(data)
}

/// What the `map_async` callback leaves for the future.
struct Mapping {
    result: Option<std::result::Result<(), wgpu::BufferAsyncError>>,
    waker: Option<Waker>,
}

/// Resolves when the `map_async` callback has run.
struct MapFuture<'a> {
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    device: &'a wgpu::Device,
    shared: Arc<Mutex<Mapping>>,
}

impl Future for MapFuture<'_> {
    type Output = Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // On native the callback runs inside `Device::poll`, which takes the lock: not held here.
        #[cfg(not(target_arch = "wasm32"))]
        if let Err(e) = self.device.poll(wgpu::PollType::Poll) {
            return Poll::Ready(Err(Error::Gpu { during: "waiting for the GPU", detail: e.to_string() }));
        }
        let mut state = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(r) = state.result.take() {
            let during = "mapping a buffer for reading";
            return Poll::Ready(r.map_err(|e| Error::Gpu { during, detail: e.to_string() }));
        }
        state.waker = Some(cx.waker().clone());
        // Nothing but another `Device::poll` runs the callback on native: ask to be polled again,
        // after letting other threads (a software GPU's among them) run.
        #[cfg(not(target_arch = "wasm32"))]
        {
            drop(state);
            std::thread::yield_now();
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }
}
