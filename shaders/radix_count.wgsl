// radix_count.wgsl — LSD radix sort, pass step 1 of 3: per-block digit histogram.
//
// Algorithm: workgroup b counts the 4-bit digits (sort_common.wgsl `digit_of`) of elements
// [1024·b, 1024·b + 1024) with workgroup atomics (integer: order-free) and writes them
// digit-major: hist[d·n_blocks + b]. An exclusive scan of `hist` (scan_*.wgsl) then gives
// every (digit, block) its first output position; radix_scatter.wgsl moves the elements.
// No workgroup waits on another.
//
// Bindings: 0 SortParams · 1 keys u32 (read) · 2 values u32 (read) · 3 hist u32 (read_write)
// Dispatch: (n_blocks, 1, 1); workgroup 256 × 1 × 1.

@group(0) @binding(1) var<storage, read> keys: array<u32>;
@group(0) @binding(2) var<storage, read> values: array<u32>;
@group(0) @binding(3) var<storage, read_write> hist: array<u32>;

var<workgroup> counts: array<atomic<u32>, 16>;

@compute @workgroup_size(SORT_WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    if (lid < 16u) {
        atomicStore(&counts[lid], 0u);
    }
    workgroupBarrier();
    for (var j = 0u; j < 4u; j++) {
        let i = wid.x * BLOCK + j * SORT_WG + lid;
        if (i < sp.n) {
            atomicAdd(&counts[digit_of(keys[i], values[i])], 1u);
        }
    }
    workgroupBarrier();
    if (lid < 16u) {
        hist[lid * sp.n_blocks + wid.x] = atomicLoad(&counts[lid]);
    }
}
