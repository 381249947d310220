// roofline_reduce.wgsl — the benchmark's read-once roofline: the simplest kernel that reads
// every input byte once and reduces it (wrapping u32 sums of vec4 words, grid-stride,
// workgroup tree, one partial per workgroup). segloss's fused forward pass is compared with
// it over the same bytes on the same adapter.
//
// Bindings: 0 params (n_threads: invocations; chunk_len: vec4 words) · 1 data array<vec4<u32>>
//           2 partials array<u32> (read_write)
// Dispatch: (workgroups, 1, 1); workgroup 256 × 1 × 1.

@group(0) @binding(1) var<storage, read> data: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read_write> sums: array<u32>;

var<workgroup> part: array<u32, WG_SIZE>;

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
        @builtin(workgroup_id) wid: vec3<u32>) {
    var acc = vec4<u32>(0u);
    for (var i = gid.x; i < params.chunk_len; i += params.n_threads) {
        acc += data[i];
    }
    part[lid] = acc.x + acc.y + acc.z + acc.w;
    workgroupBarrier();
    for (var s = WG_SIZE / 2u; s > 0u; s >>= 1u) {
        if (lid < s) {
            part[lid] += part[lid + s];
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        sums[wid.x] = part[0];
    }
}
