// tree.wgsl — workgroup tree reduction of `Sums`, shared by stats_partials and stats_final.
//
// Every invocation stores its value in `tree[lid]`; log2(WG_SIZE) halving steps follow,
// each separated by a barrier; invocation 0 ends with the workgroup's total. The order of
// additions is fixed, so the result is bit-identical run after run.
//
//   lid:   0   1   2   3   4   5   6   7        (WG_SIZE = 8 shown)
//   s=4:  0+4 1+5 2+6 3+7
//   s=2:  (0+4)+(2+6)  (1+5)+(3+7)
//   s=1:  total
//
// Must be called from uniform control flow by all invocations of the workgroup.
// Workgroup memory: WG_SIZE × 64 bytes = 16 KiB (WebGPU's minimum guaranteed limit).

var<workgroup> tree: array<Sums, WG_SIZE>;

fn tree_reduce(lid: u32, value: Sums) -> Sums {
    tree[lid] = value;
    workgroupBarrier();
    for (var s = WG_SIZE / 2u; s > 0u; s >>= 1u) {
        if (lid < s) {
            tree[lid] = sums_add(tree[lid], tree[lid + s]);
        }
        workgroupBarrier();
    }
    return tree[0];
}
