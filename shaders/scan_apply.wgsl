// scan_apply.wgsl — exact u32 prefix scan, level step 2: scan within each block plus the
// block's carry (the exclusive scan of the block sums from scan_reduce.wgsl; 0 for a
// single block).
//
// Algorithm: invocation i takes elements 4i … 4i+3 of its block (`data_in & mask`), scans
// them serially, the workgroup exclusive scan (sort_common.wgsl) gives the invocation's
// offset; result = carries[b] + offset + running sum, exclusive or inclusive (`inclusive`).
// Integer arithmetic: exact (mod 2^32).
//
// Bindings: 0 SortParams · 1 data_in u32 (read) · 2 carries u32 (read) · 3 data_out u32 (read_write)
// Dispatch: (n_blocks, 1, 1); workgroup 256 × 1 × 1.

@group(0) @binding(1) var<storage, read> data_in: array<u32>;
@group(0) @binding(2) var<storage, read> carries: array<u32>;
@group(0) @binding(3) var<storage, read_write> data_out: array<u32>;

@compute @workgroup_size(SORT_WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    var items: array<u32, 4>;
    var total = 0u;
    for (var j = 0u; j < 4u; j++) {
        let i = wid.x * BLOCK + 4u * lid + j;
        items[j] = select(0u, data_in[min(i, sp.n - 1u)] & sp.mask, i < sp.n);
        total += items[j];
    }
    let scan = wg_exclusive_scan(lid, total);
    var running = carries[wid.x] + scan.x;
    for (var j = 0u; j < 4u; j++) {
        let i = wid.x * BLOCK + 4u * lid + j;
        let next = running + items[j];
        if (i < sp.n) {
            data_out[i] = select(running, next, sp.inclusive != 0u);
        }
        running = next;
    }
}
