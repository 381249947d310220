// stats_partials_subgroup.wgsl — the fused forward pass, first stage, with subgroup sums.
//
// Same contract, bindings and dispatch as stats_partials.wgsl (see there); only the
// workgroup reduction differs: each subgroup adds its invocations' values with subgroupAdd,
// lane 0 stores the subgroup's total in `spine[lid / subgroup_size]` (1-D workgroups are
// laid out in subgroups of consecutive invocations), and a tree over the spine
// (WG_SIZE / subgroup_size entries) finishes. Needs Features::SUBGROUP and a subgroup size
// of at least 4 (spine of 64 entries, 4 KiB). Deterministic for a fixed subgroup size.

@group(0) @binding(1) var<storage, read> input: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<f32>;
@group(0) @binding(3) var<storage, read_write> partials: array<Sums>;
@group(0) @binding(4) var<storage, read_write> status: array<atomic<u32>, 2>;

var<workgroup> spine: array<Sums, 64>;

@compute @workgroup_size(256)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
    @builtin(subgroup_invocation_id) lane: u32,
    @builtin(subgroup_size) sg_size: u32,
) {
    let seg = wid.y;
    let range = segment_range(seg);
    let stride = params.wg_per_seg * WG_SIZE;
    var acc = kahan_zero();
    var bad_input = NONE;
    var bad_target = NONE;
    for (var i = range.x + wid.x * WG_SIZE + lid; i < range.y; i += stride) {
        let x = input[i];
        let t = labels[i];
        if (!input_ok(x)) {
            bad_input = min(bad_input, i);
        }
        if (is_ignored(t)) {
            continue;
        }
        if (!target_ok(t)) {
            bad_target = min(bad_target, i);
            continue;
        }
        acc = kahan_add(acc, pixel_sums(x, t));
    }
    if (bad_input != NONE) {
        atomicMin(&status[0], bad_input);
    }
    if (bad_target != NONE) {
        atomicMin(&status[1], bad_target);
    }
    let v = acc.s;
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
        partials[seg * params.wg_per_seg + wid.x] = spine[0];
    }
}
