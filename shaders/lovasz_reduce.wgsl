// lovasz_reduce.wgsl — Lovasz loss per segment: Σ e_r·grad_r over the segment's sorted kept
// errors (all > 0).
//
// Algorithm: workgroup (x, s) takes positions x·256 + lid, + wg_per_seg·256, … of segment
// s's kept pixels [start, start + len) (lovasz_common.wgsl), evaluates `lovasz_at` and
// accumulates (cascade, prelude.wgsl) the loss; the tree of tree.wgsl combines the workgroup;
// partials go to stats_final.wgsl like the sums of the fused pass (row: f0.x = loss; the
// counts came from lovasz_count.wgsl).
//
// Bindings: 0 params · 1 sorted keys · 2 sorted values · 3 label scan · 4 segments
//           5 partials array<Sums>
// Dispatch: (wg_per_seg, min(n_seg, 65535), ⌈n_seg / 65535⌉) — segment = y + 65535·z;
// workgroup 256 × 1 × 1.

@group(0) @binding(5) var<storage, read_write> partials: array<Sums>;

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let seg = wid.y + wid.z * 65535u;
    if (seg >= params.n_seg) {
        return;
    }
    let s = segments[seg];
    var acc = cascade_zero();
    for (var r = wid.x * WG_SIZE + lid; r < s.len; r += params.wg_per_seg * WG_SIZE) {
        let term = lovasz_at(s.start + r, seg);
        var v = sums_zero();
        v.f0.x = term.error * term.grad;
        acc = cascade_add(acc, v);
    }
    let total = tree_reduce(lid, cascade_total(acc));
    if (lid == 0u) {
        partials[seg * params.wg_per_seg + wid.x] = total;
    }
}
