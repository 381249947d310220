// stats_partials.wgsl — the fused forward pass, first stage (portable: no subgroups).
//
// Algorithm: workgroup (x, y) handles part x of segment y of the chunk: the grid-stride loop
// of accumulate.wgsl (checks + every per-pixel sum, blocked cascade sums), then the tree
// reduction of tree.wgsl; invocation 0 writes `partials[y·wg_per_seg + x]`.
// stats_final.wgsl then reduces each segment's partials in a fixed order.
//
// Bindings: 0 params (uniform) · 1 input, 2 target (read; formats in load.wgsl)
//           3 partials array<Sums> (read_write) · 4 status [bad input, bad target] (atomic)
// Dispatch: (wg_per_seg, n_seg, 1), n_seg ≤ 65535; workgroup 256 × 1 × 1.

@group(0) @binding(3) var<storage, read_write> partials: array<Sums>;

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let mine = accumulate_segment(wid.y, wid.x, lid);
    let total = tree_reduce(lid, mine);
    if (lid == 0u) {
        partials[wid.y * params.wg_per_seg + wid.x] = total;
    }
}
