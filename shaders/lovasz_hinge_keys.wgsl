// lovasz_hinge_keys.wgsl — Lovasz hinge, step 1: errors as descending sort keys.
//
// Algorithm: element i (grid-stride) with logit x and label y = [t ≥ 0.5] has the hinge
// error e = 1 − x·(2y − 1); key = !ord(e) where ord maps floats to u32 in increasing
// order (sign bit set: !bits; else bits | 0x80000000), so an ascending sort puts errors in
// descending order; value = i << 1 | y. Ignored pixels get key 0xffffffff (sorted last,
// counted nowhere). The first non-finite logit / target outside [0, 1] goes to `status`
// (atomicMin), which the host reads before sorting.
//
// Bindings: 0 params · 1 input f32 · 2 target f32 · 3 keys u32 (rw) · 4 values u32 (rw) · 5 status
// Dispatch: (min(⌈n/256⌉, cap), 1, 1), n = chunk_len; n_threads = workgroups × 256.

@group(0) @binding(1) var<storage, read> input: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<f32>;
@group(0) @binding(3) var<storage, read_write> keys: array<u32>;
@group(0) @binding(4) var<storage, read_write> values: array<u32>;
@group(0) @binding(5) var<storage, read_write> status: array<atomic<u32>, 2>;

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    for (var i = gid.x; i < params.chunk_len; i += params.n_threads) {
        let x = input[i];
        let t = labels[i];
        if (!is_finite(x)) {
            atomicMin(&status[0], i);
        }
        if (is_ignored(t)) {
            keys[i] = 0xffffffffu;
            values[i] = i << 1u;
            continue;
        }
        if (!target_ok(t)) {
            atomicMin(&status[1], i);
        }
        let y = select(0u, 1u, t >= 0.5);
        let e = 1.0 - x * (2.0 * f32(y) - 1.0);
        keys[i] = error_key(e);
        values[i] = (i << 1u) | y;
    }
}
