// accumulate.wgsl — the grid-stride loop of the fused forward pass, shared by
// stats_partials.wgsl and stats_partials_subgroup.wgsl (which differ only in how they
// reduce the workgroup afterwards).
//
// Workgroup (x, y) takes segment y's elements i ≡ x·WG_SIZE + lid (mod wg_per_seg·WG_SIZE):
// checks each (finite input — in [0, 1] for probabilities —, target in [0, 1] or the ignore
// value), accumulates every per-pixel sum (`pixel_sums`) in a blocked cascade (`Cascade` in
// prelude.wgsl: each 8 consecutive strides summed in a register block, blocks added 8 at a
// time into the levels above, so no running f32 sum sees more than 8 additions per level up
// to 4096 values per invocation; no compensation a compiler could fold away), and records the chunk-local index of the first bad input / target with
// atomicMin (order-free, so deterministic). Binding 4 of the forward pass is declared here, 1 and 2 in load.wgsl.

@group(0) @binding(4) var<storage, read_write> status: array<atomic<u32>, 2>;

fn accumulate_segment(seg: u32, wg_in_seg: u32, lid: u32) -> Sums {
    let range = segment_range(seg);
    let stride = params.wg_per_seg * WG_SIZE;
    var acc = cascade_zero();
    var bad_input = NONE;
    var bad_target = NONE;
    var i = range.x + wg_in_seg * WG_SIZE + lid;
    while (i < range.y) {
        // One block: the next 8 strides (i never steps more than one stride past the end).
        var block = part_zero();
        var n = vec4<u32>(0u);
        for (var b = 0u; b < 8u; b++) {
            if (i >= range.y) {
                break;
            }
            let x = load_input(i);
            let t = load_target(i);
            i += stride;
            if (!input_ok(x)) {
                bad_input = min(bad_input, i - stride);
            }
            if (is_ignored(t)) {
                continue;
            }
            if (!target_ok(t)) {
                bad_target = min(bad_target, i - stride);
                continue;
            }
            let v = pixel_sums(x, t);
            block = part_add(block, Part(v.f0, v.f1, v.f2));
            n = n + v.n;
        }
        acc = cascade_add_block(acc, block, n);
    }
    if (bad_input != NONE) {
        atomicMin(&status[0], bad_input);
    }
    if (bad_target != NONE) {
        atomicMin(&status[1], bad_target);
    }
    return cascade_total(acc);
}
