// radix_lane_count.wgsl — LSD radix sort, lane strategy, pass step 1 of 3: per-lane histogram.
//
// The lane strategy is for adapters whose invocations are SIMD lanes of a few CPU threads
// (DeviceType::Cpu: lavapipe, llvmpipe, WARP), where a workgroup barrier is a context switch
// per lane group: no workgroup memory, no barrier. Lane t owns a contiguous run of elements
// (sort_common.wgsl `lane_range`) and counts their 8-bit digits serially in a private array,
// then writes it to its own column of `hist`, digit-major: hist[d·lanes + t] (no atomics). An exclusive scan of `hist` gives every (digit, lane) its first output position,
// and radix_lane_scatter.wgsl moves the elements in order: the pass is stable. With
// `drop_unkept`, pairs whose key is > keep_max are neither counted nor moved (the first pass
// of a sort of the kept pairs only: a partition and a pass in one).
//
// Bindings: 0 SortParams (n_blocks = lanes) · 1 keys u32 (read) · 2 values u32 (read)
//           3 hist u32 (read_write, 256 · lanes)
// Dispatch: (⌈lanes / LANE_WG⌉, 1, 1); workgroup LANE_WG × 1 × 1.

@group(0) @binding(1) var<storage, read> keys: array<u32>;
@group(0) @binding(2) var<storage, read> values: array<u32>;
@group(0) @binding(3) var<storage, read_write> hist: array<u32>;

@compute @workgroup_size(LANE_WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let t = gid.x;
    let lanes = sp.n_blocks;
    if (t >= lanes) {
        return;
    }
    // Counted in the lane's own (private, contiguous) array, written out once.
    var counts: array<u32, 256>;
    let run = lane_range(t, lanes);
    for (var i = run.x; i < run.y; i++) {
        let k = keys[i];
        if (sp.drop_unkept != 0u && k > sp.keep_max) {
            continue;
        }
        counts[digit_with(k, values[i], 255u)] += 1u;
    }
    for (var d = 0u; d < 256u; d++) {
        hist[d * lanes + t] = counts[d];
    }
}
