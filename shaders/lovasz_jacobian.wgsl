// lovasz_jacobian.wgsl — Lovasz softmax backward, last step: from dL/dp to dL/dx through
// the softmax, in place: per pixel, g_c = dL/dp_c for every class (written by
// lovasz_grad.wgsl class by class), p_c = e^{x_c − lse} with the pixel's log-sum-exp from
// lovasz_lse.wgsl, dL/dx_j = p_j·(g_j − Σ_c g_c p_c).
//
// Bindings: 0 params · 1 logits · 2 class map (classes.wgsl) · 3 grad f32 (read_write, same
//           [image][class][pixel] layout as the logits chunk)
// Dispatch: (min(⌈pixels/256⌉, cap), 1, 1); n_threads = workgroups × 256.

@group(0) @binding(3) var<storage, read_write> grad: array<f32>;
@group(0) @binding(4) var<storage, read> lse: array<f32>;

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let pixels = params.n_seg * params.seg_len;
    for (var f = gid.x; f < pixels; f += params.n_threads) {
        let li = f / params.seg_len;
        let i = f % params.seg_len;
        let m = lse[params.seg_offset + li * params.plane + i];
        var dot = 0.0;
        for (var c = 0u; c < params.classes; c++) {
            dot += grad[logit_index(li, c, i)] * exp(logit(logit_index(li, c, i)) - m);
        }
        for (var c = 0u; c < params.classes; c++) {
            let at = logit_index(li, c, i);
            grad[at] = exp(logit(at) - m) * (grad[at] - dot);
        }
    }
}
