// lovasz_grad.wgsl — Lovasz backward: the sorted-order gradient scattered back through the
// permutation.
//
// Algorithm: position g (grid-stride) of segment s: d = scale[s]·grad_g·[e_g > 0]·(label ? −1 : +1)
// — the derivative of relu(e)·grad with e = 1 − x(2y − 1) (hinge: d/dx) or e = |fg − p_c|
// (softmax: d/dp_c) — written to out[pixel] for the pixel the value names (softmax: a
// per-class buffer the host copies into that class's plane). Every pixel is written once
// (ignored pixels: 0).
//
// Bindings: 0 params · 1 sorted keys · 2 sorted values · 3 label scan · 4 scales f32 (per segment)
//           5 out f32 (read_write)
// Dispatch: (min(⌈n/256⌉, cap), 1, 1), n = chunk_len; n_threads = workgroups × 256.

@group(0) @binding(4) var<storage, read> scales: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    for (var g = gid.x; g < params.chunk_len; g += params.n_threads) {
        let term = lovasz_at(g);
        var d = 0.0;
        if (term.valid && term.error > 0.0) {
            d = scales[g / params.seg_len] * term.grad * select(1.0, -1.0, term.label == 1u);
        }
        out[sorted_values[g] >> 1u] = d;
    }
}
