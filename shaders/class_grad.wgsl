// class_grad.wgsl — the multiclass backward pass: every logit's gradient through the
// softmax, one pixel per invocation (grid-stride over the chunk's pixels).
//
// Algorithm: with p = softmax(x), per-class coefficients (one `Coef` per (image, class) row)
// give g_c = ∂L/∂p_c of the region sums (sp + tp·t_c + 2·spp·p_c + sad·sign(p_c − t_c)
// + smin·[p_c < t_c]),
// a_c = −(wce_c + [c = k]·bce_c), the coefficient of ln p_c (cross-entropy terms), and the
// focal factor h = focal_k·p_k·F′(p_k), F = (1−p_k)^γ·(−ln p_k). Then
//   ∂L/∂x_j = p_j·(g_j − Σ_c g_c p_c) + a_j − p_j·Σ_c a_c + h·([j = k] − p_j).
// Loops over C: max, e^{x − m} (one exponential per logit, parked in the pixel's own
// gradient slots), Σ g·p, write. Ignored pixels get exactly 0.
//
// Bindings: 0 params · 1 logits f32 · 2 class map u32 (packed) · 3 coefs (`coef_at`: a storage
//           array, coefs_storage.wgsl, or a uniform table, coefs_uniform.wgsl) · 4 grad f32
// Dispatch: (min(⌈pixels/256⌉, cap), 1, 1); n_threads = workgroups × 256.

@group(0) @binding(4) var<storage, read_write> grad: array<f32>;

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let pixels = params.n_seg * params.seg_len;
    for (var flat = gid.x; flat < pixels; flat += params.n_threads) {
        let img = flat / params.seg_len;
        let pix = flat % params.seg_len;
        let k = class_at(flat);
        if (class_ignored(k) || k >= params.classes) {
            for (var c = 0u; c < params.classes; c++) {
                grad[logit_index(img, c, pix)] = 0.0;
            }
            continue;
        }
        // The softmax with one exponential per logit: e_c = e^{x_c − m} is parked in `grad`
        // (this pixel's own slots, overwritten below) and p_c = e_c / Σe read back from there.
        var m = logit(logit_index(img, 0u, pix));
        for (var c = 1u; c < params.classes; c++) {
            m = max(m, logit(logit_index(img, c, pix)));
        }
        var s = 0.0;
        var s_not_k = 0.0;
        for (var c = 0u; c < params.classes; c++) {
            let e = exp(logit(logit_index(img, c, pix)) - m);
            grad[logit_index(img, c, pix)] = e;
            s += e;
            s_not_k += select(e, 0.0, c == k);
        }
        let inv_s = 1.0 / s;
        let sm = Softmax(m + log(s), 0u, s_not_k * inv_s, true);
        let row = img * params.classes;
        var big_g = 0.0;
        var big_a = 0.0;
        // Only class k has a BCE (−ln p_k) coefficient: one load per pixel, not per logit.
        var bce_k = 0.0;
        if (term_possible(TERM_BCE)) {
            bce_k = coef_at(row + k).bce;
        }
        for (var c = 0u; c < params.classes; c++) {
            let cf = coef_at(row + c);
            let p = grad[logit_index(img, c, pix)] * inv_s;
            let t = select(0.0, 1.0, c == k);
            big_g += region_derivative(cf, p, t) * p;
            big_a += wce_coefficient(cf);
        }
        big_a -= bce_k;
        var h = 0.0;
        if (term_possible(TERM_FOCAL)) {
            let l = sm.lse - logit(logit_index(img, k, pix));
            let p_k = exp(-l);
            let r = select(1.0, l / sm.q, sm.q > 0.0);
            h = -coef_at(row + k).focal * focal_modulator(sm.q) * (params.focal_gamma * p_k * r + 1.0);
        }
        for (var c = 0u; c < params.classes; c++) {
            let cf = coef_at(row + c);
            let p = grad[logit_index(img, c, pix)] * inv_s;
            let t = select(0.0, 1.0, c == k);
            let a = wce_coefficient(cf) - t * bce_k;
            grad[logit_index(img, c, pix)] = p * (region_derivative(cf, p, t) - big_g) + a - p * big_a + h * (t - p);
        }
    }
}
