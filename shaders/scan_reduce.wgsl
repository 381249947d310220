// scan_reduce.wgsl — exact u32 prefix scan, level step 1: block sums.
//
// Algorithm (reduce-then-scan, no workgroup waits on another): workgroup b sums elements
// [1024·b, 1024·b + 1024) of `data_in & mask` (each invocation 4, then the workgroup scan's
// total) into sums[b]. The host scans `sums` the same way (recursively while it has more
// than one block), and scan_apply.wgsl adds each block's carry.
//
// Bindings: 0 SortParams · 1 data_in u32 (read) · 2 sums u32 (read_write)
// Dispatch: (n_blocks, 1, 1); workgroup 256 × 1 × 1.

@group(0) @binding(1) var<storage, read> data_in: array<u32>;
@group(0) @binding(2) var<storage, read_write> sums: array<u32>;

@compute @workgroup_size(SORT_WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    var total = 0u;
    for (var j = 0u; j < 4u; j++) {
        let i = wid.x * BLOCK + 4u * lid + j;
        if (i < sp.n) {
            total += data_in[i] & sp.mask;
        }
    }
    let scan = wg_exclusive_scan(lid, total);
    if (lid == 0u) {
        sums[wid.x] = scan.y;
    }
}
