// Model backward (see model.wgsl, prepended): the gradient of the loss with respect to every
// parameter, from segloss's gradient with respect to the logits (dlogits), as partial sums.
//
// Per pixel p, with g = dL/dlogit(p) and h_j the hidden activation after the ReLU:
//   dL/db2       = g
//   dL/dW2[j]    = g · h_j
//   dL/db1[j]    = g · W2[j] · [h_j > 0]
//   dL/dW1[j][k] = g · W2[j] · [h_j > 0] · tap_k(p)
// and each parameter's gradient is the sum over all pixels.
//
// Each thread sums these over PIXELS_PER_THREAD (model.wgsl) consecutive pixels in private
// accumulators (every pixel's window and hidden activations read once; W2 once per thread)
// and writes its PARAMS partial sums
// to partials[thread · PARAMS + i]; adam.wgsl adds the partial sums up, in a fixed order, so
// the gradient is deterministic (no atomics).
//
// Bindings (group 0): 0 images (model.wgsl), 1 params (read), 2 hidden (read, as written by
// forward.wgsl), 3 dlogits (read), 4 partials (write: PARAMS per thread).
// Workgroups of 64: dispatch ceil(pixels / (64 · PIXELS_PER_THREAD)) × 1 × 1; the partials
// buffer holds PARAMS floats for every thread of the dispatch (threads past the last pixel
// write zeros).

@group(0) @binding(1) var<storage, read> params: array<f32>;
@group(0) @binding(2) var<storage, read> hidden: array<f32>;
@group(0) @binding(3) var<storage, read> dlogits: array<f32>;
@group(0) @binding(4) var<storage, read_write> partials: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    var w2: array<f32, HIDDEN>;
    for (var j = 0u; j < HIDDEN; j++) {
        w2[j] = params[w2_at(j)];
    }
    var acc: array<f32, PARAMS>;
    let first = id.x * PIXELS_PER_THREAD;
    let end = min(first + PIXELS_PER_THREAD, arrayLength(&dlogits));
    for (var p = first; p < end; p++) {
        let g = dlogits[p];
        let x = window(p);
        acc[b2_at()] += g;
        for (var j = 0u; j < HIDDEN; j++) {
            let h = hidden[p * HIDDEN + j];
            acc[w2_at(j)] += g * h;
            if h > 0.0 {
                let d_pre = g * w2[j];
                acc[b1_at(j)] += d_pre;
                for (var s = 0u; s < NEIGHBOURS; s++) {
                    let w = w1_at(j, s * 3u);
                    acc[w] += d_pre * x[s].r;
                    acc[w + 1u] += d_pre * x[s].g;
                    acc[w + 2u] += d_pre * x[s].b;
                }
            }
        }
    }
    for (var i = 0u; i < PARAMS; i++) {
        partials[id.x * PARAMS + i] = acc[i];
    }
}
