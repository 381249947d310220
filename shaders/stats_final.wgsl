// stats_final.wgsl — the fused forward pass, second stage: one workgroup per segment adds
// that segment's `wg_per_seg` partials in a fixed order (invocation j takes partials
// j, j+WG_SIZE, … in a blocked cascade (prelude.wgsl), then the tree of tree.wgsl) and writes the
// segment's row. Fixed order ⇒ bit-identical results run after run.
//
// Bindings: 0 params (uniform) · 1 partials array<Sums> (read) · 2 rows array<Sums> (read_write)
// Dispatch: (min(n_seg, 65535), ⌈n_seg / 65535⌉, 1) — segment = x + 65535·y; workgroup 256 × 1 × 1.

@group(0) @binding(1) var<storage, read> partials: array<Sums>;
@group(0) @binding(2) var<storage, read_write> rows: array<Sums>;

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let seg = wid.x + wid.y * 65535u;
    if (seg >= params.n_seg) {
        return;
    }
    let base = seg * params.wg_per_seg;
    var acc = cascade_zero();
    for (var g = lid; g < params.wg_per_seg; g += WG_SIZE) {
        acc = cascade_add(acc, partials[base + g]);
    }
    let total = tree_reduce(lid, cascade_total(acc));
    if (lid == 0u) {
        rows[seg] = total;
    }
}
