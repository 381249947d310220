// sort_common.wgsl — shared by the radix-sort and scan kernels (radix_count, radix_scatter,
// scan_reduce, scan_apply). Holds their uniform `SortParams` (binding 0), the block shape
// (256 invocations × 4 elements = 1024 per workgroup), the digit of an element, and a
// workgroup exclusive scan of one u32 per invocation (Hillis–Steele over a double buffer:
// 8 steps, a barrier each; deterministic).
//
// Also shared by the lane strategy's kernels (radix_lane_*, scan_lane_*), which use
// `SortParams` and `digit_with` only.
//
// Elements are (key, value) pairs of u32. The value 0xffffffff marks padding past the end.
// Digits are 4 bits (block kernels) or 8 bits (lane kernels): `mode` 0 takes bits
// [shift, shift+width) of the key; `mode` 1 takes them of the segment id
// (value >> value_shift) / seg_len, so extra passes make the sort segmented while it stays
// one global sort (LSD passes are stable); `mode` 2 is the digit [key > keep_max], a stable
// partition that puts the keys ≤ keep_max first (the Lovasz losses sort only those).

struct SortParams {
    n: u32,          // elements
    n_blocks: u32,   // ⌈n / 1024⌉ (block kernels) or the number of lanes (lane kernels)
    shift: u32,      // digit position
    mode: u32,       // 0: key digit; 1: segment digit
    seg_len: u32,    // elements per segment (mode 1)
    mask: u32,       // scan: input = data & mask
    inclusive: u32,  // scan: 1 = inclusive, 0 = exclusive
    value_shift: u32, // mode 1: segment id = (value >> value_shift) / seg_len
    keep_max: u32,   // mode 2: digit = [key > keep_max]
    drop_unkept: u32, // lane kernels: 1 = pairs whose key > keep_max are left out (not counted, not written)
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(0) var<uniform> sp: SortParams;

// SORT_WG (256) and BLOCK (1024) are generated from src/gpu/contract.rs and prepended.
const SENTINEL: u32 = 0xffffffffu;

var<workgroup> scan_buf: array<u32, 512>;

// The digit of (key, value) under `mask` (15 or 255: the radix − 1); padding gets `mask`.
fn digit_with(key: u32, value: u32, mask: u32) -> u32 {
    if (value == SENTINEL) {
        return mask;
    }
    if (sp.mode == 0u) {
        return (key >> sp.shift) & mask;
    }
    if (sp.mode == 2u) {
        return select(0u, 1u, key > sp.keep_max);
    }
    return (((value >> sp.value_shift) / sp.seg_len) >> sp.shift) & mask;
}

fn digit_of(key: u32, value: u32) -> u32 {
    return digit_with(key, value, 15u);
}

// The lane kernels: lane t of `lanes` owns elements [t·per, min((t+1)·per, n)),
// per = ⌈n / lanes⌉ (x = start, y = end; empty past the last element).
fn lane_range(t: u32, lanes: u32) -> vec2<u32> {
    let per = (sp.n + lanes - 1u) / lanes;
    let start = min(t * per, sp.n);
    return vec2<u32>(start, min(start + per, sp.n));
}

// Exclusive prefix of `v` over the workgroup's invocations, and the workgroup total.
// Call from uniform control flow by every invocation.
fn wg_exclusive_scan(lid: u32, v: u32) -> vec2<u32> {
    var src = 0u;
    scan_buf[lid] = v;
    workgroupBarrier();
    for (var off = 1u; off < SORT_WG; off <<= 1u) {
        var sum = scan_buf[src * SORT_WG + lid];
        if (lid >= off) {
            sum += scan_buf[src * SORT_WG + lid - off];
        }
        scan_buf[(1u - src) * SORT_WG + lid] = sum;
        workgroupBarrier();
        src = 1u - src;
    }
    let inclusive = scan_buf[src * SORT_WG + lid];
    let total = scan_buf[src * SORT_WG + SORT_WG - 1u];
    workgroupBarrier();
    return vec2<u32>(inclusive - v, total);
}
