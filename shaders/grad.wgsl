// grad.wgsl — the backward pass: one elementwise kernel for every sum-based loss.
//
// Algorithm: for L = f(S), dL/dx_i = Σ_j ∂f/∂S_j · ∂s_j(x_i, t_i)/∂x_i. The host computes
// the coefficients ∂f/∂S_j per segment (`coefs`, one `Coef` per chunk-local segment);
// this kernel evaluates `pixel_grad` (prelude.wgsl) at every element in a grid-stride loop
// over the chunk. An invocation loads a segment's coefficients once, when its stride enters
// the segment (a per-element load is a per-lane gather on CPU adapters: the backward pass
// was 2× the forward). Ignored pixels get exactly 0. Reads input and target once, writes
// the gradient once; no per-loss code.
//
// Bindings: 0 params (uniform) · 1 input, 2 target (read; formats in load.wgsl)
//           3 coefs array<Coef> (read; segment first_seg + s of the chunk's segment s)
//           4 grad f32 (read_write)
// Dispatch: (min(⌈chunk_len/256⌉, cap), 1, 1); n_threads = workgroups × 256.

@group(0) @binding(3) var<storage, read> coefs: array<Coef>;
@group(0) @binding(4) var<storage, read_write> grad: array<f32>;

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    // The segment of element i and its coefficients, advanced as i strides on: one division
    // and one coefficient load per segment an invocation meets, not per element.
    var seg = (gid.x + params.seg_offset) / params.seg_len;
    var seg_end = (seg + 1u) * params.seg_len - params.seg_offset;
    let last = arrayLength(&coefs) - 1u;
    var coef = coefs[min(params.first_seg + seg, last)];
    for (var i = gid.x; i < params.chunk_len; i += params.n_threads) {
        if (i >= seg_end) {
            seg = (i + params.seg_offset) / params.seg_len;
            seg_end = (seg + 1u) * params.seg_len - params.seg_offset;
            coef = coefs[min(params.first_seg + seg, last)];
        }
        let t = load_target(i);
        if (is_ignored(t)) {
            grad[i] = 0.0;
            continue;
        }
        grad[i] = pixel_grad(load_input(i), t, coef);
    }
}
