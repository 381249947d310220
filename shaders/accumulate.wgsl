// accumulate.wgsl — the grid-stride loop of the fused forward pass, shared by
// stats_partials.wgsl and stats_partials_subgroup.wgsl (which differ only in how they
// reduce the workgroup afterwards).
//
// Workgroup (x, y) takes segment y's elements i ≡ x·WG_SIZE + lid (mod wg_per_seg·WG_SIZE):
// checks each (finite input — in [0, 1] for probabilities —, target in [0, 1] or the ignore
// value), accumulates every per-pixel sum (`pixel_sums`) in a blocked cascade (`Cascade` in
// prelude.wgsl: blocks of 8, 64 and 512 values, so no running f32 sum sees more than 8
// additions per level up to 4096 values per invocation; no compensation a compiler could
// fold away), and records the chunk-local index of the first bad input / target with
// atomicMin (order-free, so deterministic). Binding 4 of the forward pass is declared here, 1 and 2 in load.wgsl.

@group(0) @binding(4) var<storage, read_write> status: array<atomic<u32>, 2>;

fn accumulate_segment(seg: u32, wg_in_seg: u32, lid: u32) -> Sums {
    let range = segment_range(seg);
    let stride = params.wg_per_seg * WG_SIZE;
    var acc = cascade_zero();
    var bad_input = NONE;
    var bad_target = NONE;
    for (var i = range.x + wg_in_seg * WG_SIZE + lid; i < range.y; i += stride) {
        let x = load_input(i);
        let t = load_target(i);
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
        acc = cascade_add(acc, pixel_sums(x, t));
    }
    if (bad_input != NONE) {
        atomicMin(&status[0], bad_input);
    }
    if (bad_target != NONE) {
        atomicMin(&status[1], bad_target);
    }
    return cascade_total(acc);
}
