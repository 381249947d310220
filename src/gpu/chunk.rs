//! How a batch is cut into chunks that fit one storage binding, how many workgroups each
//! chunk's passes use, and the uniforms of those passes ([`ChunkPasses`]): the one schedule
//! that the blocking path and plans both record (`record.rs`). Chunk statistics merge
//! exactly (`Stats::merge`), so a chunked run gives the same sums as one pass, up to f32
//! rounding order.

use super::contract::{Params, UNIFORM_COEFS};

/// Workgroup size of every kernel but the sort's (defined once, in `contract.rs`).
pub(crate) use super::contract::WG_SIZE;
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

/// First-pass workgroups per segment: enough that each invocation has at least
/// `MIN_ITEMS_PER_INVOCATION` elements, at most `max_workgroups` in all and no more
/// partial rows than one binding holds (at least 1 per segment).
pub fn workgroups_per_segment(chunk: &Chunk, seg_len: usize, max_workgroups: u32, binding_elems: usize) -> u32 {
    let items = seg_len.min(chunk.len);
    let wanted = items.div_ceil(WG_SIZE as usize * MIN_ITEMS_PER_INVOCATION);
    let budget = ((max_workgroups as usize).min(max_rows(binding_elems)) / chunk.n_seg).max(1);
    wanted.clamp(1, budget) as u32
}

/// A count of workgroups folded into two dispatch dimensions of at most 65535 each.
pub fn fold(n: usize) -> (u32, u32) {
    (n.clamp(1, 65535) as u32, n.div_ceil(65535).max(1) as u32)
}

/// Workgroups of a grid-stride elementwise dispatch over `len` elements.
pub fn elementwise_workgroups(len: usize, max_workgroups: u32) -> u32 {
    len.div_ceil(WG_SIZE as usize).clamp(1, max_workgroups as usize) as u32
}

/// A multiclass chunk: whole images, or (for an image larger than a binding) a pixel range of
/// one image, uploaded compacted as [image][class][pixel] with `plane` pixels per image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClassChunk {
    /// First image.
    pub first_image: usize,
    /// Images in the chunk (1 for a partial image).
    pub n_images: usize,
    /// First pixel of the range in each image (0 for whole images).
    pub pix0: usize,
    /// Pixels per image in the chunk.
    pub plane: usize,
}

/// Lanes per class in class_stats.wgsl: the invocations sharing one class's sums.
pub fn class_lanes(classes: usize) -> usize {
    if classes <= WG_SIZE as usize {
        WG_SIZE as usize / classes
    } else {
        1
    }
}

/// Words per pixel of the class-plane strategy's pixel summary (class_pixels.wgsl: lse,
/// class | argmax, 1 − p_k).
pub const PIXEL_WORDS: usize = 3;

/// The multiclass forward of one batch: the adapter's `ClassStrategy` where it fits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClassPass {
    /// class_stats.wgsl.
    Fused,
    /// class_pixels.wgsl, then class_planes.wgsl.
    Planes,
}

impl ClassPass {
    /// `Planes` when `planes` is asked for and fits: a chunk's pixel summary within one
    /// binding (a chunk holds at most `binding_elems / C` pixels, so C ≥ `PIXEL_WORDS`) and
    /// one image's partials (one per invocation: `WG_SIZE` per row) within one binding.
    pub fn choose(planes: bool, classes: usize, binding_elems: usize) -> ClassPass {
        let fits = classes >= PIXEL_WORDS && classes * WG_SIZE as usize <= binding_elems / 16;
        if planes && fits {
            ClassPass::Planes
        } else {
            ClassPass::Fused
        }
    }

    /// Partials per (image, class) row and workgroup of the first stage.
    pub fn partials_per_row(self, classes: usize) -> usize {
        match self {
            ClassPass::Fused => class_lanes(classes),
            ClassPass::Planes => WG_SIZE as usize,
        }
    }
}

/// Cuts `n` images of `hw` pixels and `classes` classes into chunks whose logits fit one
/// binding and whose first-stage partials (`pass`) fit one binding; `Err` says why a
/// binding is too small for this many classes.
pub fn class_chunks(
    n: usize,
    hw: usize,
    classes: usize,
    binding_elems: usize,
    pass: ClassPass,
) -> Result<Vec<ClassChunk>, String> {
    let binding_rows = binding_elems / 16;
    let per_image = classes * pass.partials_per_row(classes);
    if per_image > binding_rows || classes > MAX_SEGMENTS_PER_CHUNK || classes * classes > binding_elems {
        return Err(format!(
            "{classes} classes need {per_image} partial rows and a {classes}x{classes} confusion matrix, \
             more than one storage binding of {} bytes holds",
            binding_elems * 4
        ));
    }
    let pixels = (binding_elems / classes).max(1);
    let mut out = Vec::new();
    if hw <= pixels {
        let images = (pixels / hw).min(binding_rows / per_image).min(MAX_SEGMENTS_PER_CHUNK / classes).max(1);
        let mut first = 0;
        while first < n {
            let k = images.min(n - first);
            out.push(ClassChunk { first_image: first, n_images: k, pix0: 0, plane: hw });
            first += k;
        }
    } else {
        for image in 0..n {
            let mut pix0 = 0;
            while pix0 < hw {
                let plane = pixels.min(hw - pix0);
                out.push(ClassChunk { first_image: image, n_images: 1, pix0, plane });
                pix0 += plane;
            }
        }
    }
    Ok(out)
}

/// class_stats.wgsl workgroups per image: about two tiles per workgroup, at most
/// `max_workgroups` in all, and partials that fit one binding.
pub fn class_workgroups(chunk: &ClassChunk, classes: usize, max_workgroups: u32, binding_elems: usize) -> u32 {
    let tiles = chunk.plane.div_ceil(WG_SIZE as usize);
    let blocks = classes.div_ceil(WG_SIZE as usize);
    let by_cap = max_workgroups as usize / (chunk.n_images * blocks);
    let by_memory = binding_elems / 16 / (chunk.n_images * classes * class_lanes(classes));
    tiles.div_ceil(2).min(by_cap).min(by_memory).max(1) as u32
}

/// class_pixels.wgsl workgroups per image (a grid-stride loop; no partials): at most
/// `max_workgroups` in all.
pub fn pixel_workgroups(chunk: &ClassChunk, max_workgroups: u32) -> u32 {
    let tiles = chunk.plane.div_ceil(WG_SIZE as usize);
    tiles.min(max_workgroups as usize / chunk.n_images).max(1) as u32
}

/// class_planes.wgsl workgroups per (image, class) row: enough that each invocation has at
/// least `MIN_ITEMS_PER_INVOCATION` pixels, at most `max_workgroups` in all, and partials
/// (one per invocation) that fit one binding.
pub fn plane_workgroups(chunk: &ClassChunk, classes: usize, max_workgroups: u32, binding_elems: usize) -> u32 {
    let rows = chunk.n_images * classes;
    let wanted = chunk.plane.div_ceil(WG_SIZE as usize * MIN_ITEMS_PER_INVOCATION);
    let by_memory = binding_elems / 16 / (rows * WG_SIZE as usize);
    wanted.min(max_workgroups as usize / rows).min(by_memory).max(1) as u32
}

/// The device limits the schedule depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Most workgroups of one dispatch dimension the schedule uses.
    pub max_workgroups: u32,
    /// f32 elements one storage binding holds.
    pub binding_elems: usize,
    /// Whether the adapter takes the class-plane multiclass forward (`ClassStrategy::Planes`).
    pub class_planes: bool,
}

impl Limits {
    /// The multiclass forward of a batch of `classes` classes under these limits.
    pub fn class_pass(&self, classes: usize) -> ClassPass {
        ClassPass::choose(self.class_planes, classes, self.binding_elems)
    }
}

/// The first stage of a chunk's forward pass and its grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// `stats_partials.wgsl`: `workgroups` per segment × `segments`.
    Sigmoid { workgroups: u32, segments: u32 },
    /// `class_stats.wgsl`: `workgroups` per image × `images` × `class_blocks`.
    Softmax { workgroups: u32, images: u32, class_blocks: u32 },
    /// `class_pixels.wgsl`: `workgroups` per image × `images`; then `class_planes.wgsl`:
    /// `plane_workgroups` per row × the chunk's rows (`ChunkPasses::rows`).
    Planes { workgroups: u32, images: u32, plane_workgroups: u32 },
}

/// Everything the passes over one chunk need: the first stage, the uniforms of the
/// forward stages and of the backward pass, and the rows the chunk writes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChunkPasses {
    /// The first stage.
    pub stage: Stage,
    /// Uniform of the first stage.
    pub forward: Params,
    /// Uniform of `stats_final.wgsl` (its `n_seg` rows from `wg_per_seg` partials each).
    pub reduce: Params,
    /// Rows of statistics the chunk writes.
    pub rows: usize,
    /// Uniform of the backward pass (`first_seg`: the chunk's first row among all rows).
    pub backward: Params,
    /// Workgroups of the backward pass.
    pub backward_workgroups: u32,
}

impl ChunkPasses {
    /// The passes over a binary/multilabel chunk of images of `seg_len` pixels; `base`
    /// holds the flags and per-pixel parameters.
    pub fn sigmoid(base: &Params, chunk: &Chunk, seg_len: usize, limits: Limits) -> ChunkPasses {
        let forward = Params {
            chunk_len: chunk.len as u32,
            seg_offset: chunk.seg_offset as u32,
            n_seg: chunk.n_seg as u32,
            wg_per_seg: workgroups_per_segment(chunk, seg_len, limits.max_workgroups, limits.binding_elems),
            ..*base
        };
        let backward_workgroups = elementwise_workgroups(chunk.len, limits.max_workgroups);
        ChunkPasses {
            stage: Stage::Sigmoid { workgroups: forward.wg_per_seg, segments: forward.n_seg },
            forward,
            reduce: forward,
            rows: chunk.n_seg,
            backward: Params { n_threads: backward_workgroups * WG_SIZE, first_seg: chunk.first_seg as u32, ..forward },
            backward_workgroups,
        }
    }

    /// The passes over a multiclass chunk of `classes` classes (made by `class_chunks` with
    /// `limits.class_pass(classes)`); `base` holds the flags, the class count, the map format,
    /// the ignore index and γ.
    pub fn softmax(base: &Params, chunk: &ClassChunk, classes: usize, limits: Limits) -> ChunkPasses {
        let pass = limits.class_pass(classes);
        let wg_per_seg = match pass {
            ClassPass::Fused => class_workgroups(chunk, classes, limits.max_workgroups, limits.binding_elems),
            ClassPass::Planes => pixel_workgroups(chunk, limits.max_workgroups),
        };
        let forward = Params {
            chunk_len: (chunk.n_images * chunk.plane) as u32,
            seg_len: chunk.plane as u32,
            n_seg: chunk.n_images as u32,
            wg_per_seg,
            ..*base
        };
        let rows = chunk.n_images * classes;
        let backward_workgroups = elementwise_workgroups(chunk.n_images * chunk.plane, limits.max_workgroups);
        let (stage, stage_workgroups) = match pass {
            ClassPass::Fused => {
                let class_blocks = classes.div_ceil(WG_SIZE as usize) as u32;
                (Stage::Softmax { workgroups: wg_per_seg, images: forward.n_seg, class_blocks }, wg_per_seg)
            }
            ClassPass::Planes => {
                let plane_workgroups = plane_workgroups(chunk, classes, limits.max_workgroups, limits.binding_elems);
                (Stage::Planes { workgroups: wg_per_seg, images: forward.n_seg, plane_workgroups }, plane_workgroups)
            }
        };
        let partials_per_row = stage_workgroups * pass.partials_per_row(classes) as u32;
        ChunkPasses {
            stage,
            forward,
            reduce: Params { n_seg: rows as u32, wg_per_seg: partials_per_row, ..forward },
            rows,
            backward: Params { n_threads: backward_workgroups * WG_SIZE, ..forward },
            backward_workgroups,
        }
    }

    /// Whether the backward pass can read this chunk's coefficients from a uniform table
    /// (`Kernel::ClassGradUniform`): a multiclass chunk of at most `UNIFORM_COEFS` rows.
    pub fn uniform_coefs(&self) -> bool {
        !matches!(self.stage, Stage::Sigmoid { .. }) && self.rows <= UNIFORM_COEFS as usize
    }

    /// Words of the class-plane pixel summary the first stage writes (0 for other stages).
    pub fn pixel_words(&self) -> u64 {
        match self.stage {
            Stage::Planes { .. } => PIXEL_WORDS as u64 * self.forward.chunk_len as u64,
            _ => 0,
        }
    }

    /// Partial rows the first stage writes.
    pub fn partial_rows(&self) -> u64 {
        self.reduce.n_seg as u64 * self.reduce.wg_per_seg as u64
    }
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
    fn class_chunks_cover_every_pixel_once() {
        for (n, hw, c, binding) in
            [(3, 15, 19, 1 << 20), (2, 5000, 150, 1 << 16), (5, 4096, 3, 4096), (1, 1, 2, 1 << 20)]
        {
            let chunks = class_chunks(n, hw, c, binding, ClassPass::Fused).unwrap();
            let mut seen = vec![0u8; n * hw];
            for ch in &chunks {
                assert!(ch.n_images * c * ch.plane <= binding, "{ch:?}");
                for i in ch.first_image..ch.first_image + ch.n_images {
                    for p in ch.pix0..ch.pix0 + ch.plane {
                        seen[i * hw + p] += 1;
                    }
                }
            }
            assert!(seen.iter().all(|&s| s == 1), "{n}x{hw} C={c}");
        }
        assert!(class_chunks(1, 10, 300, 1 << 12, ClassPass::Fused).is_err());
    }

    #[test]
    fn class_planes_only_where_they_fit() {
        let binding = 1 << 20; // 65536 partial rows
        assert_eq!(ClassPass::choose(true, 19, binding), ClassPass::Planes);
        assert_eq!(ClassPass::choose(false, 19, binding), ClassPass::Fused);
        // C = 2: a chunk's 3-word pixel summary could exceed a binding.
        assert_eq!(ClassPass::choose(true, 2, binding), ClassPass::Fused);
        assert_eq!(ClassPass::choose(true, 3, binding), ClassPass::Planes);
        // One image's 256 partials per class must fit: 256 classes need 65536 rows.
        assert_eq!(ClassPass::choose(true, 256, binding), ClassPass::Planes);
        assert_eq!(ClassPass::choose(true, 257, binding), ClassPass::Fused);
        let limits = Limits { max_workgroups: 8, binding_elems: binding, class_planes: true };
        for (n, hw, c) in [(4, 256 * 512, 19), (40, 15, 3), (3, 5000, 150), (1, 1, 3)] {
            let chunks = class_chunks(n, hw, c, binding, ClassPass::Planes).unwrap();
            let base = Params { classes: c as u32, ..Params::default() };
            for ch in &chunks {
                let passes = ChunkPasses::softmax(&base, ch, c, limits);
                assert!(matches!(passes.stage, Stage::Planes { .. }), "{n}x{hw} C={c}");
                assert!(passes.partial_rows() * 16 <= binding as u64, "{n}x{hw} C={c}: partials");
                assert!(passes.pixel_words() <= binding as u64, "{n}x{hw} C={c}: pixel summary");
                assert_eq!(passes.reduce.wg_per_seg % WG_SIZE, 0);
                let Stage::Planes { workgroups, images, plane_workgroups } = passes.stage else { unreachable!() };
                assert!(workgroups * images <= 8 || workgroups == 1, "{n}x{hw} C={c}: pixel workgroups");
                assert_eq!(passes.reduce.wg_per_seg, plane_workgroups * WG_SIZE);
            }
        }
    }

    #[test]
    fn uniform_coefficients_for_multiclass_chunks_that_fit() {
        let limits = Limits { max_workgroups: 8, binding_elems: 1 << 20, class_planes: false };
        let base = Params::default();
        let chunk = |n_images| ClassChunk { first_image: 0, n_images, pix0: 0, plane: 15 };
        assert!(ChunkPasses::softmax(&base, &chunk(26), 19, limits).uniform_coefs()); // 494 rows
        assert!(!ChunkPasses::softmax(&base, &chunk(27), 19, limits).uniform_coefs()); // 513 rows
        let planes = Limits { class_planes: true, ..limits };
        assert!(ChunkPasses::softmax(&base, &chunk(26), 19, planes).uniform_coefs());
        let binary = Chunk { start: 0, len: 15, first_seg: 0, n_seg: 1, seg_offset: 0 };
        assert!(!ChunkPasses::sigmoid(&base, &binary, 15, limits).uniform_coefs());
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
