// lovasz_reduce.wgsl — Lovasz loss per segment: Σ relu(e_r)·grad_r over the sorted errors.
//
// Algorithm: workgroup (x, s) takes positions x·256 + lid, + wg_per_seg·256, … of segment
// s, evaluates `lovasz_at` (lovasz_common.wgsl) and accumulates (cascade, prelude.wgsl) the loss, the
// valid-pixel count and the label count; the tree of tree.wgsl combines the workgroup;
// partials go to stats_final.wgsl like the sums of the fused pass (row: f0.x = loss,
// n.x = valid pixels, n.y = Σ labels).
//
// Bindings: 0 params · 1 sorted keys · 2 sorted values · 3 label scan · 4 partials array<Sums>
// Dispatch: (wg_per_seg, min(n_seg, 65535), ⌈n_seg / 65535⌉) — segment = y + 65535·z;
// workgroup 256 × 1 × 1.

@group(0) @binding(4) var<storage, read_write> partials: array<Sums>;

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let seg = wid.y + wid.z * 65535u;
    if (seg >= params.n_seg) {
        return;
    }
    var acc = cascade_zero();
    for (var r = wid.x * WG_SIZE + lid; r < params.seg_len; r += params.wg_per_seg * WG_SIZE) {
        let term = lovasz_at(seg * params.seg_len + r);
        if (term.valid) {
            var v = sums_zero();
            v.f0.x = max(term.error, 0.0) * term.grad;
            v.n = vec4<u32>(1u, term.label, 0u, 0u);
            acc = cascade_add(acc, v);
        }
    }
    let total = tree_reduce(lid, cascade_total(acc));
    if (lid == 0u) {
        partials[seg * params.wg_per_seg + wid.x] = total;
    }
}
