// lovasz_lse.wgsl — Lovasz softmax, step 0 (once per call, before the classes): each pixel's
// log-sum-exp over its C logits, so that every class's keys pass (lovasz_softmax_keys.wgsl)
// takes p_c = e^{x_c − lse} with one exponential instead of recomputing the softmax.
//
// Algorithm: pixel (image li of the chunk, pixel i), grid-stride: `pixel_softmax`
// (classes.wgsl) gives lse = m + log Σ e^{x − m}; stored at flat = seg_offset + li·plane + i
// (the chunk's place in the batch's [N, H, W] pixels). The first non-finite logit and the
// first class outside [0, C) that is not ignored go to `status` (chunk-local pixel index),
// which the host reads before sorting.
//
// Bindings: 0 params · 1 logits · 2 class map (classes.wgsl) · 3 lse f32 (read_write) · 4 status
// Dispatch: (min(⌈pixels/256⌉, cap), 1, 1); n_threads = workgroups × 256.

@group(0) @binding(3) var<storage, read_write> lse: array<f32>;
@group(0) @binding(4) var<storage, read_write> status: array<atomic<u32>, 2>;

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let pixels = params.n_seg * params.seg_len;
    for (var f = gid.x; f < pixels; f += params.n_threads) {
        let li = f / params.seg_len;
        let i = f % params.seg_len;
        let k = class_at(f);
        let sm = pixel_softmax(li, i, min(k, params.classes - 1u));
        if (!sm.finite) {
            atomicMin(&status[0], f);
        }
        if (!class_ignored(k) && k >= params.classes) {
            atomicMin(&status[1], f);
        }
        lse[params.seg_offset + li * params.plane + i] = sm.lse;
    }
}
