// class_planes.wgsl — the multiclass forward pass by class planes (CPU adapters;
// `ClassStrategy::Planes`), step 2 of 2: each (image, class) plane summed like a binary
// segment, from the pixel summaries class_pixels.wgsl left in memory.
//
// Algorithm: workgroup (x, y) takes row y = image·C + class c and its pixels x·256 + lid,
// stepping W·256 (W = wg_per_seg / 256 workgroups per row): x_c from the contiguous class
// plane, lse and k | argmax << 16 (and q) of the pixel from `pixels`, and accumulates
// `class_sums` (classes.wgsl) in a blocked cascade (prelude.wgsl: 8 strides in a register
// block, no per-value counter). Pixels marked NO_CLASS add nothing. No reduction in the
// workgroup: every invocation writes its own partial, partials[(y·W + x)·256 + lid], and
// stats_final(_lanes).wgsl adds a row's wg_per_seg partials in a fixed order. Against the
// fused class_stats.wgsl this reads the logits twice but has no workgroup memory, no barrier,
// and lanes that load consecutive logits of one class, which on a CPU adapter (invocations =
// SIMD lanes) is what is fast (PERFORMANCE.md).
//
// Bindings: 0 params (the chunk's `reduce` uniform: n_seg rows, wg_per_seg partials per row)
//           1 logits · 2 class map (classes.wgsl; not read) · 3 partials array<Sums>
//           4 pixels u32 (read; class_pixels.wgsl)
// Dispatch: (W, rows, 1); workgroup 256 × 1 × 1. Transcendentals: 1 exp per logit (+2 for a
// focal sum with a general γ).

@group(0) @binding(3) var<storage, read_write> partials: array<Sums>;
@group(0) @binding(4) var<storage, read> pixels: array<u32>;

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let row = wid.y;
    let img = row / params.classes;
    let c = row % params.classes;
    let per_row = params.wg_per_seg / WG_SIZE;
    let stride = per_row * WG_SIZE;
    let n = params.chunk_len;
    var acc = cascade_zero();
    var pix = wid.x * WG_SIZE + lid;
    while (pix < params.seg_len) {
        var block = part_zero();
        var counts = vec4<u32>(0u);
        for (var b = 0u; b < 8u; b++) {
            if (pix >= params.seg_len) {
                break;
            }
            let flat = img * params.seg_len + pix;
            let x = logit(row * params.seg_len + pix);
            pix += stride;
            let packed = pixels[n + flat];
            if (packed == NO_CLASS) {
                continue;
            }
            var q = 0.0;
            if (log_sum_wanted(FLAG_NO_FOCAL)) {
                q = bitcast<f32>(pixels[2u * n + flat]);
            }
            let v = class_sums(c, packed, bitcast<f32>(pixels[flat]) - x, q);
            block = part_add(block, Part(v.f0, v.f1, v.f2));
            counts = counts + v.n;
        }
        acc = cascade_add_block(acc, block, counts);
    }
    partials[(row * per_row + wid.x) * WG_SIZE + lid] = cascade_total(acc);
}
