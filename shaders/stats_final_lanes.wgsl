// stats_final_lanes.wgsl — the fused forward pass, second stage, lane strategy (CPU
// adapters; `SortStrategy::Lanes`): one invocation per segment adds that segment's
// `wg_per_seg` partials serially, in index order, in a blocked cascade (prelude.wgsl), and
// writes the segment's row. No workgroup memory and no barrier: on a CPU adapter an
// invocation is a SIMD lane and every barrier switches through all of a workgroup's
// invocations, which made stats_final.wgsl's tree cost 7 of 37 ms of the multiclass forward
// (8×19×128², lavapipe). Fixed order ⇒ bit-identical results run after run.
//
// Bindings: as stats_final.wgsl — 0 params (uniform) · 1 partials array<Sums> (read)
//           2 rows array<Sums> (read_write)
// Dispatch: (⌈n_seg / LANE_WG⌉ folded as fold() in chunk.rs: x + 65535·y); workgroup
//           LANE_WG × 1 × 1; segment = (x + 65535·y)·LANE_WG + lid.

@group(0) @binding(1) var<storage, read> partials: array<Sums>;
@group(0) @binding(2) var<storage, read_write> rows: array<Sums>;

@compute @workgroup_size(LANE_WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let seg = (wid.x + wid.y * 65535u) * LANE_WG + lid;
    if (seg >= params.n_seg) {
        return;
    }
    let base = seg * params.wg_per_seg;
    var acc = cascade_zero();
    for (var g = 0u; g < params.wg_per_seg; g++) {
        acc = cascade_add(acc, partials[base + g]);
    }
    rows[seg] = cascade_total(acc);
}
