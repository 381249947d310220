// Adam (Kingma & Ba 2015) on every parameter, from the gradient's partial sums:
//   g = Σ_t partials[t · params + i], t in order (param_grad.wgsl's threads)
//   m ← β1·m + (1 − β1)·g,   v ← β2·v + (1 − β2)·g²
//   θ ← θ − LR · (m / (1 − β1^t)) / (sqrt(v / (1 − β2^t)) + ε)
// Each parameter keeps its own powers β1^t and β2^t next to m and v, so the kernel needs no
// step counter from the host and no thread has to count steps for the others.
//
// Bindings (group 0): 0 params (read-write), 1 partials (read: param_grad.wgsl's output),
// 2 state (read-write: vec4(m, v, β1^t, β2^t) per parameter; starts at (0, 0, 1, 1)).
// Workgroups of 64, one thread per parameter: dispatch ceil(params / 64) × 1 × 1.
// LR, BETA1, BETA2 and EPS are pipeline constants set by train.rs.

override LR: f32;
override BETA1: f32 = 0.9;
override BETA2: f32 = 0.999;
override EPS: f32 = 1e-8;

@group(0) @binding(0) var<storage, read_write> params: array<f32>;
@group(0) @binding(1) var<storage, read> partials: array<f32>;
@group(0) @binding(2) var<storage, read_write> state: array<vec4<f32>>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let i = id.x;
    let n = arrayLength(&params);
    if i >= n {
        return;
    }
    var g = 0.0;
    for (var t = 0u; t < arrayLength(&partials) / n; t++) {
        g += partials[t * n + i];
    }
    var s = state[i];
    s.x = BETA1 * s.x + (1.0 - BETA1) * g;
    s.y = BETA2 * s.y + (1.0 - BETA2) * g * g;
    s.z *= BETA1;
    s.w *= BETA2;
    let m_hat = s.x / (1.0 - s.z);
    let v_hat = s.y / (1.0 - s.w);
    params[i] -= LR * m_hat / (sqrt(v_hat) + EPS);
    state[i] = s;
}
