// stats_partials.wgsl — the fused forward pass, first stage (portable: no subgroups).
//
// Algorithm: workgroup (x, y) handles segment y of the chunk; the segment's elements are
// split over `wg_per_seg` workgroups by a grid-stride loop (element i goes to invocation
// i mod (wg_per_seg·WG_SIZE)). Each invocation checks its elements (finite input, target in
// [0, 1] or the ignore value) and accumulates every per-pixel sum (`pixel_sums`) with Kahan
// compensation; a tree reduction (tree.wgsl) combines the workgroup; invocation 0 writes
// `partials[y·wg_per_seg + x]`. stats_final.wgsl then reduces each segment's partials.
// The first bad element's chunk-local index goes to `status` by atomicMin (order-free).
//
// Bindings: 0 params (uniform) · 1 input f32 (read) · 2 target f32 (read)
//           3 partials array<Sums> (read_write) · 4 status [bad input, bad target] (atomic)
// Dispatch: (wg_per_seg, n_seg, 1), n_seg ≤ 65535; workgroup 256 × 1 × 1.

@group(0) @binding(1) var<storage, read> input: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<f32>;
@group(0) @binding(3) var<storage, read_write> partials: array<Sums>;
@group(0) @binding(4) var<storage, read_write> status: array<atomic<u32>, 2>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let seg = wid.y;
    let range = segment_range(seg);
    let stride = params.wg_per_seg * WG_SIZE;
    var acc = kahan_zero();
    var bad_input = NONE;
    var bad_target = NONE;
    for (var i = range.x + wid.x * WG_SIZE + lid; i < range.y; i += stride) {
        let x = input[i];
        let t = labels[i];
        if (!input_ok(x)) {
            bad_input = min(bad_input, i);
        }
        if (is_ignored(t)) {
            continue;
        }
        if (!target_ok(t)) {
            bad_target = min(bad_target, i);
            continue;
        }
        acc = kahan_add(acc, pixel_sums(x, t));
    }
    if (bad_input != NONE) {
        atomicMin(&status[0], bad_input);
    }
    if (bad_target != NONE) {
        atomicMin(&status[1], bad_target);
    }
    let total = tree_reduce(lid, acc.s);
    if (lid == 0u) {
        partials[seg * params.wg_per_seg + wid.x] = total;
    }
}
