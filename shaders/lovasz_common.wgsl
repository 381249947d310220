// lovasz_common.wgsl — shared by lovasz_reduce.wgsl and lovasz_grad.wgsl: the Lovasz
// extension gradient at a position of the sorted errors (Berman et al. 2018, `lovasz_grad`).
//
// Inputs (bindings 1–3): the errors' keys sorted ascending within each segment (key =
// !ord(error), so errors descend; ignored pixels carry key 0xffffffff and sort last), the
// values (pixel index << 1 | label), and the inclusive scan of the labels in sorted order.
// Segment s occupies positions [s·seg_len, (s+1)·seg_len). With G the segment's label sum,
// c the labels up to and including position r (local), k = r + 1:
//   I = G − c, U = G + k − c,  jaccard_r = 1 − I/U,  grad_r = jaccard_r − jaccard_{r−1}
// computed without cancellation: label 1 → 1/U; label 0 → I/(U·(U − 1)); r = 0 → 1 − I/U.

@group(0) @binding(1) var<storage, read> sorted_keys: array<u32>;
@group(0) @binding(2) var<storage, read> sorted_values: array<u32>;
@group(0) @binding(3) var<storage, read> label_scan: array<u32>;

const LOVASZ_IGNORED: u32 = 0xffffffffu;

struct LovaszTerm {
    valid: bool,
    label: u32,
    error: f32,
    grad: f32,
}

fn lovasz_at(g: u32) -> LovaszTerm {
    let key = sorted_keys[g];
    let seg = g / params.seg_len;
    let first = seg * params.seg_len;
    let r = g - first;
    let base = select(0u, label_scan[max(first, 1u) - 1u], first > 0u);
    let total = label_scan[first + params.seg_len - 1u] - base;
    let c = label_scan[g] - base;
    let label = sorted_values[g] & 1u;
    let i = f32(total - c);
    let u = f32(total + r + 1u - c);
    var grad: f32;
    if (r == 0u) {
        grad = 1.0 - i / u;
    } else if (label == 1u) {
        grad = 1.0 / u;
    } else {
        grad = i / (u * (u - 1.0));
    }
    return LovaszTerm(key != LOVASZ_IGNORED, label, key_error(key), grad);
}
