// stats_partials_subgroup.wgsl — the fused forward pass, first stage, with subgroup sums.
//
// Same contract, bindings and dispatch as stats_partials.wgsl (see there); only the
// workgroup reduction differs: each subgroup adds its invocations' values with subgroupAdd,
// lane 0 stores the subgroup's total in `spine[lid / subgroup_size]` (1-D workgroups are
// laid out in subgroups of consecutive invocations), and a tree over the spine
// (WG_SIZE / subgroup_size entries) finishes. Needs Features::SUBGROUP and a subgroup size
// of at least 4 (spine of 64 entries, 4 KiB). Deterministic for a fixed subgroup size.

@group(0) @binding(3) var<storage, read_write> partials: array<Sums>;

var<workgroup> spine: array<Sums, 64>;

@compute @workgroup_size(WG_SIZE)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
    @builtin(subgroup_invocation_id) lane: u32,
    @builtin(subgroup_size) sg_size: u32,
) {
    let v = accumulate_segment(wid.y, wid.x, lid);
    let r = Sums(subgroupAdd(v.f0), subgroupAdd(v.f1), subgroupAdd(v.f2), subgroupAdd(v.n));
    if (lane == 0u) {
        spine[lid / sg_size] = r;
    }
    workgroupBarrier();
    for (var s = WG_SIZE / sg_size / 2u; s > 0u; s >>= 1u) {
        if (lid < s) {
            spine[lid] = sums_add(spine[lid], spine[lid + s]);
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        partials[wid.y * params.wg_per_seg + wid.x] = spine[0];
    }
}
