// edt_init.wgsl — exact Euclidean distance transform, step 1: the sampled function the
// axis passes (edt_axis.wgsl) take the lower envelope of. Voxel i of a u8 mask (four per
// word, little-endian) becomes 0 if the mask is zero there (background) and +inf (the bits
// INF_BITS) otherwise (foreground). Mirrored by `reference::edt::edt_init`.
//
// Bindings: 0 EdtParams (n, n_threads) · 1 mask u32 (read, ⌈n / 4⌉ words)
//           2 dist u32 (read_write, n; the f32 bits of each voxel's value)
// Dispatch: (workgroups, 1, 1); workgroup WG_SIZE × 1 × 1; a grid-stride loop over the
// voxels with stride n_threads = workgroups · WG_SIZE.

@group(0) @binding(1) var<storage, read> mask: array<u32>;
@group(0) @binding(2) var<storage, read_write> dist: array<u32>;

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    for (var i = gid.x; i < ep.n; i += ep.n_threads) {
        let byte = (mask[i >> 2u] >> ((i & 3u) * 8u)) & 0xffu;
        dist[i] = select(0u, INF_BITS, byte != 0u);
    }
}
