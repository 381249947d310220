//! How a batch is cut into chunks that fit one storage binding, and how many workgroups
//! each chunk's passes use. Chunk statistics merge exactly (`Stats::merge`), so a chunked
//! run gives the same sums as one pass, up to f32 rounding order.

/// Workgroup size of every kernel (`WG_SIZE` in prelude.wgsl).
pub const WG_SIZE: u32 = 256;
/// At most this many segments in one chunk (≤ 65535: one dispatch dimension).
pub const MAX_SEGMENTS_PER_CHUNK: usize = 16384;
/// A first-pass workgroup is given at least this many elements per invocation before
/// another workgroup is added to a segment.
pub const MIN_ITEMS_PER_INVOCATION: usize = 8;
/// Chunk lengths are multiples of this many elements (256 bytes: every adapter's
/// storage-buffer offset alignment).
pub const CHUNK_ALIGN: usize = 64;

/// A contiguous range of the flat batch processed by one dispatch chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk {
    /// Flat index of the first element.
    pub start: usize,
    /// Elements in the chunk.
    pub len: usize,
    /// Image of the first element.
    pub first_seg: usize,
    /// Images the chunk touches.
    pub n_seg: usize,
    /// Position of the first element inside its image.
    pub seg_offset: usize,
}

/// Most per-segment rows (64-byte `Sums`) one binding holds, capped at
/// `MAX_SEGMENTS_PER_CHUNK`: bounds both the segments of a chunk and its partials.
pub fn max_rows(binding_elems: usize) -> usize {
    (binding_elems / 16).clamp(2, MAX_SEGMENTS_PER_CHUNK)
}

/// Largest chunk for images of `seg_len` pixels when one binding holds `binding_elems`
/// floats: it fits one binding and touches at most `max_rows(binding_elems)` segments.
pub fn max_chunk_len(seg_len: usize, binding_elems: usize) -> usize {
    let whole_segments = seg_len.saturating_mul(max_rows(binding_elems) - 1);
    let by_binding = (binding_elems / CHUNK_ALIGN * CHUNK_ALIGN).max(CHUNK_ALIGN);
    whole_segments.min(by_binding)
}

/// Cuts `total` elements of images of `seg_len` pixels into chunks of at most `max_len`.
pub fn chunks(total: usize, seg_len: usize, max_len: usize) -> Vec<Chunk> {
    let mut out = Vec::with_capacity(total.div_ceil(max_len));
    let mut start = 0;
    while start < total {
        let len = max_len.min(total - start);
        let first_seg = start / seg_len;
        let last_seg = (start + len - 1) / seg_len;
        out.push(Chunk { start, len, first_seg, n_seg: last_seg - first_seg + 1, seg_offset: start % seg_len });
        start += len;
    }
    out
}

/// The longest chunk and the most segments any chunk touches: what buffers must hold.
pub fn largest(chunks: &[Chunk]) -> (usize, usize) {
    let len = chunks.iter().map(|c| c.len).max().unwrap_or(1);
    let n_seg = chunks.iter().map(|c| c.n_seg).max().unwrap_or(1);
    (len, n_seg)
}

/// First-pass workgroups per segment: enough that each invocation has at least
/// `MIN_ITEMS_PER_INVOCATION` elements, at most `max_workgroups` in all and no more
/// partial rows than one binding holds (at least 1 per segment).
pub fn workgroups_per_segment(chunk: &Chunk, seg_len: usize, max_workgroups: u32, binding_elems: usize) -> u32 {
    let items = seg_len.min(chunk.len);
    let wanted = items.div_ceil(WG_SIZE as usize * MIN_ITEMS_PER_INVOCATION);
    let budget = ((max_workgroups as usize).min(max_rows(binding_elems)) / chunk.n_seg).max(1);
    wanted.clamp(1, budget) as u32
}

/// Workgroups of a grid-stride elementwise dispatch over `len` elements.
pub fn elementwise_workgroups(len: usize, max_workgroups: u32) -> u32 {
    len.div_ceil(WG_SIZE as usize).clamp(1, max_workgroups as usize) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_everything_once() {
        for (total, seg, max) in [(1, 1, 64), (15, 15, 64), (2 * 257 * 263, 257 * 263, 4096), (1000, 7, 64)] {
            let cs = chunks(total, seg, max);
            let mut next = 0;
            for c in &cs {
                assert_eq!(c.start, next);
                assert!(c.len <= max && c.len > 0);
                assert_eq!(c.first_seg, c.start / seg);
                assert_eq!(c.first_seg + c.n_seg - 1, (c.start + c.len - 1) / seg);
                assert!(c.n_seg <= MAX_SEGMENTS_PER_CHUNK);
                next += c.len;
            }
            assert_eq!(next, total);
        }
    }

    #[test]
    fn tiny_images_bound_segments_per_chunk() {
        let max = max_chunk_len(1, 1 << 25);
        assert_eq!(max, MAX_SEGMENTS_PER_CHUNK - 1);
        // A 64 KiB binding holds 1024 rows.
        assert_eq!(max_chunk_len(15, 16384), 15 * 1023);
        for c in chunks(100_000, 1, max) {
            assert!(c.n_seg < MAX_SEGMENTS_PER_CHUNK);
        }
    }
}
