// lovasz_count.wgsl — Lovasz, step 2 (before sorting): per segment, its valid pixels, its
// labels (G) and its kept pixels (error > 0: key ≤ LOVASZ_KEEP_MAX, lovasz_key.wgsl), which
// the host turns into the sort's size and each segment's place among the kept pixels.
//
// Algorithm: workgroup (x, s) takes positions x·256 + lid, + wg_per_seg·256, … of segment
// s's pixels [s·seg_len, (s+1)·seg_len) of the unsorted keys and values, counts in integers
// (order-free, exact) n = (valid, labels, kept, 0); the tree of tree.wgsl combines the
// workgroup; partials go to stats_final.wgsl (row: n.x, n.y, n.z).
//
// Bindings: 0 params · 1 keys u32 (read) · 2 values u32 (read) · 3 partials array<Sums>
// Dispatch: (wg_per_seg, min(n_seg, 65535), ⌈n_seg / 65535⌉) — segment = y + 65535·z;
// workgroup 256 × 1 × 1.

@group(0) @binding(1) var<storage, read> keys: array<u32>;
@group(0) @binding(2) var<storage, read> values: array<u32>;
@group(0) @binding(3) var<storage, read_write> partials: array<Sums>;

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let seg = wid.y + wid.z * 65535u;
    if (seg >= params.n_seg) {
        return;
    }
    var n = vec4<u32>(0u);
    for (var r = wid.x * WG_SIZE + lid; r < params.seg_len; r += params.wg_per_seg * WG_SIZE) {
        let g = seg * params.seg_len + r;
        let key = keys[g];
        if (key != 0xffffffffu) {
            n += vec4<u32>(1u, values[g] & 1u, select(0u, 1u, key <= LOVASZ_KEEP_MAX), 0u);
        }
    }
    var v = sums_zero();
    v.n = n;
    let total = tree_reduce(lid, v);
    if (lid == 0u) {
        partials[seg * params.wg_per_seg + wid.x] = total;
    }
}
