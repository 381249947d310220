// scan_lane_apply.wgsl — exact u32 prefix scan, lane strategy, level step 2: each run
// scanned serially from its carry (the exclusive scan of scan_lane_reduce's run sums;
// 0 for a single lane), exclusive or inclusive (`inclusive`). Integer: exact (mod 2^32).
// No workgroup memory, no barrier (see radix_lane_count.wgsl).
//
// Bindings: 0 SortParams (n_blocks = lanes) · 1 data_in u32 (read) · 2 carries u32 (read)
//           3 data_out u32 (read_write)
// Dispatch: (⌈lanes / LANE_WG⌉, 1, 1); workgroup LANE_WG × 1 × 1.

@group(0) @binding(1) var<storage, read> data_in: array<u32>;
@group(0) @binding(2) var<storage, read> carries: array<u32>;
@group(0) @binding(3) var<storage, read_write> data_out: array<u32>;

@compute @workgroup_size(LANE_WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let t = gid.x;
    if (t >= sp.n_blocks) {
        return;
    }
    let run = lane_range(t, sp.n_blocks);
    var running = carries[t];
    for (var i = run.x; i < run.y; i++) {
        let next = running + (data_in[i] & sp.mask);
        data_out[i] = select(running, next, sp.inclusive != 0u);
        running = next;
    }
}
