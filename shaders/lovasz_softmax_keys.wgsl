// lovasz_softmax_keys.wgsl — Lovasz softmax, step 1 for class `class_index`: errors
// |fg − p_c| as descending sort keys.
//
// Algorithm: pixel (image li of the chunk, pixel i), grid-stride: p_c = e^{x_c − lse} with
// the pixel's log-sum-exp from lovasz_lse.wgsl (one exponential per pixel and class),
// fg = [k = c], error e = |fg − p_c|, key = !ord(e), value = (flat pixel << 1) | fg with
// flat = seg_offset + li·plane + i (the chunk's place in the batch's [N, H, W] pixels).
// Ignored pixels: key 0xffffffff. (The data checks ran in lovasz_lse.wgsl.)
//
// Bindings: 0 params · 1 logits · 2 class map (classes.wgsl) · 3 keys (rw) · 4 values (rw)
//           5 lse f32 (read)
// Dispatch: (min(⌈pixels/256⌉, cap), 1, 1); n_threads = workgroups × 256.

@group(0) @binding(3) var<storage, read_write> keys: array<u32>;
@group(0) @binding(4) var<storage, read_write> values: array<u32>;
@group(0) @binding(5) var<storage, read> lse: array<f32>;

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let pixels = params.n_seg * params.seg_len;
    for (var f = gid.x; f < pixels; f += params.n_threads) {
        let li = f / params.seg_len;
        let i = f % params.seg_len;
        let flat = params.seg_offset + li * params.plane + i;
        let k = class_at(f);
        if (class_ignored(k)) {
            keys[flat] = 0xffffffffu;
            values[flat] = flat << 1u;
            continue;
        }
        let c = params.class_index;
        let fg = select(0u, 1u, k == c);
        let p = exp(logit(logit_index(li, c, i)) - lse[flat]);
        keys[flat] = error_key(abs(f32(fg) - p));
        values[flat] = (flat << 1u) | fg;
    }
}
