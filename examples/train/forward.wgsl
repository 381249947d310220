// Model forward (see model.wgsl, prepended): every pixel's logit, and its hidden activations
// for param_grad.wgsl.
//
// Each thread copies the parameters into private memory once, then runs PIXELS_PER_THREAD
// consecutive pixels (a software adapter such as llvmpipe gathers a storage load lane by
// lane, so loading the parameters once per pixel would dominate the kernel).
//
// Bindings (group 0): 0 images (model.wgsl), 1 params (read), 2 hidden (write: pixel-major,
// p·HIDDEN + j, after the ReLU), 3 logits (write: one per pixel).
// Workgroups of 64: dispatch ceil(pixels / (64 · PIXELS_PER_THREAD)) × 1 × 1.

@group(0) @binding(1) var<storage, read> params: array<f32>;
@group(0) @binding(2) var<storage, read_write> hidden: array<f32>;
@group(0) @binding(3) var<storage, read_write> logits: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    var w: array<f32, PARAMS>;
    for (var i = 0u; i < PARAMS; i++) {
        w[i] = params[i];
    }
    let first = id.x * PIXELS_PER_THREAD;
    let end = min(first + PIXELS_PER_THREAD, arrayLength(&logits));
    for (var p = first; p < end; p++) {
        let x = window(p);
        var logit = w[b2_at()];
        for (var j = 0u; j < HIDDEN; j++) {
            var pre = w[b1_at(j)];
            for (var s = 0u; s < NEIGHBOURS; s++) {
                let k = w1_at(j, s * 3u);
                pre += dot(vec3(w[k], w[k + 1u], w[k + 2u]), x[s]);
            }
            let h = max(pre, 0.0);
            hidden[p * HIDDEN + j] = h;
            logit += w[w2_at(j)] * h;
        }
        logits[p] = logit;
    }
}
