// radix_lane_scatter.wgsl — LSD radix sort, lane strategy, pass step 3 of 3: stable scatter.
//
// Algorithm: lane t copies its cursors offsets[d·lanes + t] into a private array, walks its
// run (sort_common.wgsl `lane_range`) in order and writes each element to its digit's
// cursor, advancing it. `offsets` is the exclusive scan of radix_lane_count's
// histogram, digit-major, so digits come out in order, lanes in order within a digit and
// elements in order within a lane: the pass is stable and LSD passes compose into a sort.
// No workgroup memory, no barrier (see radix_lane_count.wgsl for when this strategy is used).
//
// Bindings: 0 SortParams (n_blocks = lanes) · 1 keys_in · 2 values_in
//           3 offsets (read) · 4 keys_out (read_write) · 5 values_out (read_write)
// Dispatch: (⌈lanes / LANE_WG⌉, 1, 1); workgroup LANE_WG × 1 × 1.

@group(0) @binding(1) var<storage, read> keys_in: array<u32>;
@group(0) @binding(2) var<storage, read> values_in: array<u32>;
@group(0) @binding(3) var<storage, read> offsets: array<u32>;
@group(0) @binding(4) var<storage, read_write> keys_out: array<u32>;
@group(0) @binding(5) var<storage, read_write> values_out: array<u32>;

@compute @workgroup_size(LANE_WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let t = gid.x;
    let lanes = sp.n_blocks;
    if (t >= lanes) {
        return;
    }
    // The lane's 256 cursors, copied into a private contiguous array (its column of
    // `offsets` is strided by `lanes`).
    var cursor: array<u32, 256>;
    for (var d = 0u; d < 256u; d++) {
        cursor[d] = offsets[d * lanes + t];
    }
    let run = lane_range(t, lanes);
    for (var i = run.x; i < run.y; i++) {
        let k = keys_in[i];
        if (sp.drop_unkept != 0u && k > sp.keep_max) {
            continue;
        }
        let v = values_in[i];
        let d = digit_with(k, v, 255u);
        let out = cursor[d];
        cursor[d] = out + 1u;
        keys_out[out] = k;
        values_out[out] = v;
    }
}
