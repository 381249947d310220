// lovasz_grad.wgsl — Lovasz backward: the sorted-order gradient scattered back through the
// permutation.
//
// Algorithm: sorted position g < chunk_len (the kept pixels, grid-stride), segment s =
// (pixel / seg_len) of the pixel its value names: d = scale[s]·grad_g·(label ? −1 : +1) —
// the derivative of e·grad with e = 1 − x(2y − 1) (hinge: d/dx) or e = |fg − p_c| (softmax:
// d/dp_c; every kept error is > 0) — written to out[pixel] (softmax: a per-class buffer the
// host copies into that class's plane). Pixels not kept (error ≤ 0, ignored) are not
// written: the host clears `out` first.
//
// Bindings: 0 params · 1 sorted keys · 2 sorted values · 3 label scan · 4 segments
//           5 scales f32 (per segment) · 6 out f32 (read_write)
// Dispatch: (min(⌈n/256⌉, cap), 1, 1), n = chunk_len; n_threads = workgroups × 256.

@group(0) @binding(5) var<storage, read> scales: array<f32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    for (var g = gid.x; g < params.chunk_len; g += params.n_threads) {
        let pixel = sorted_values[g] >> 1u;
        let seg = pixel / params.seg_len;
        let term = lovasz_at(g, seg);
        out[pixel] = scales[seg] * term.grad * select(1.0, -1.0, term.label == 1u);
    }
}
