//! Reused buffers for the blocking path: a call takes its buffers from the pool and gives
//! them back when it ends, so a loop of calls allocates nothing after its first call.
//!
//! Buffers are pooled by role (label), usage and size class. Size classes are the powers of
//! two up to 4 KiB and then sixteenths of the next power of two (at most 1/16 wasted), never
//! above the storage-binding limit when the request fits under it. A buffer returns only to
//! its own role, so a role that relies on its contents (a constant zero buffer) keeps them.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    label: &'static str,
    usage: u32,
    size: u64,
}

/// Free buffers by role, usage and size class, and the bytes ever created.
#[derive(Default)]
pub(crate) struct BufferPool {
    free: Mutex<HashMap<Key, Vec<wgpu::Buffer>>>,
    /// Bytes of every buffer created through the pool (a running total).
    pub(crate) created: AtomicU64,
}

/// A buffer on loan from the pool; given back when dropped.
pub(crate) struct Pooled<'a> {
    buffer: Option<wgpu::Buffer>,
    key: Key,
    pool: &'a BufferPool,
}

impl Deref for Pooled<'_> {
    type Target = wgpu::Buffer;
    fn deref(&self) -> &wgpu::Buffer {
        self.buffer.as_ref().expect("a pooled buffer is present until dropped")
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        if let (Some(buffer), Ok(mut free)) = (self.buffer.take(), self.pool.free.lock()) {
            free.entry(self.key).or_default().push(buffer);
        }
    }
}

/// The size class of a request of `size` bytes when one binding holds `binding_bytes`.
pub(crate) fn size_class(size: u64, binding_bytes: u64) -> u64 {
    let size = size.max(16);
    let p = size.next_power_of_two();
    let class = if p <= 4096 { p } else { size.div_ceil(p / 16) * (p / 16) };
    if size <= binding_bytes {
        class.min(binding_bytes / 4 * 4).max(size)
    } else {
        class
    }
}

impl BufferPool {
    /// A buffer of at least `size` bytes for `label` with `usage`.
    pub(crate) fn take<'a>(
        &'a self,
        device: &wgpu::Device,
        label: &'static str,
        size: u64,
        usage: wgpu::BufferUsages,
        binding_bytes: u64,
    ) -> Pooled<'a> {
        let key = Key { label, usage: usage.bits(), size: size_class(size, binding_bytes) };
        let reused = self.free.lock().ok().and_then(|mut free| free.get_mut(&key).and_then(Vec::pop));
        let buffer = reused.unwrap_or_else(|| {
            self.created.fetch_add(key.size, Ordering::Relaxed);
            device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: key.size,
                usage,
                mapped_at_creation: false,
            })
        });
        Pooled { buffer: Some(buffer), key, pool: self }
    }

    /// Drops every free buffer (the device memory they hold is released).
    pub(crate) fn clear(&self) {
        if let Ok(mut free) = self.free.lock() {
            free.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::size_class;

    #[test]
    fn size_classes_cover_the_request_and_waste_little() {
        let binding = 128 << 20;
        for size in [0u64, 1, 15, 16, 17, 80, 4095, 4096, 4097, 100_000, 1 << 20, (1 << 20) + 1, 127 << 20] {
            let c = size_class(size, binding);
            assert!(c >= size.max(16), "{size} -> {c}");
            assert!(c <= binding || size > binding, "{size} -> {c}");
            if size > 4096 {
                assert!((c - size) as f64 <= size as f64 / 8.0, "{size} -> {c}");
            }
        }
        // Above the binding limit the class is still at least the request.
        assert!(size_class(binding + 5, binding) >= binding + 5);
        // A request just under the limit is not rounded past it.
        assert_eq!(size_class(binding - 64, binding), binding);
    }
}
