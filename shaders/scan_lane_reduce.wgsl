// scan_lane_reduce.wgsl — exact u32 prefix scan, lane strategy, level step 1: run sums.
//
// Algorithm (reduce-then-scan): lane t sums its run (sort_common.wgsl `lane_range`) of
// `data_in & mask` serially into sums[t]. The host scans `sums` the same way (recursively
// while there is more than one lane) and scan_lane_apply.wgsl scans each run from its
// carry. No workgroup memory, no barrier (see radix_lane_count.wgsl).
//
// Bindings: 0 SortParams (n_blocks = lanes) · 1 data_in u32 (read) · 2 sums u32 (read_write)
// Dispatch: (⌈lanes / LANE_WG⌉, 1, 1); workgroup LANE_WG × 1 × 1.

@group(0) @binding(1) var<storage, read> data_in: array<u32>;
@group(0) @binding(2) var<storage, read_write> sums: array<u32>;

@compute @workgroup_size(LANE_WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let t = gid.x;
    if (t >= sp.n_blocks) {
        return;
    }
    let run = lane_range(t, sp.n_blocks);
    var total = 0u;
    for (var i = run.x; i < run.y; i++) {
        total += data_in[i] & sp.mask;
    }
    sums[t] = total;
}
