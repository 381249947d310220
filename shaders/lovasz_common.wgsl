// lovasz_common.wgsl — shared by lovasz_reduce.wgsl and lovasz_grad.wgsl: the Lovasz
// extension gradient at a position of the sorted errors (Berman et al. 2018, `lovasz_grad`).
//
// Inputs (bindings 1–4): the kept pixels' keys (key = !ord(error), errors > 0 only: the
// pixels with error ≤ 0 add nothing to the loss or the gradient and do not change the
// rank of those with error > 0, which all come before them), sorted ascending within each
// segment (errors descend), the values (pixel index << 1 | label), the inclusive scan of the
// labels in sorted order, and per segment its kept pixels' place (start, len) and label
// total G over all its valid pixels (lovasz_count.wgsl). With c the labels up to and
// including local position r, k = r + 1:
//   I = G − c, U = G + k − c,  jaccard_r = 1 − I/U,  grad_r = jaccard_r − jaccard_{r−1}
// computed without cancellation: label 1 → 1/U; label 0 → I/(U·(U − 1)); r = 0 → 1/U
// (1 − I/U with I = U − 1, whatever the label; in f32 the subtraction would lose
// log2(G) bits of the segment's largest entry).

@group(0) @binding(1) var<storage, read> sorted_keys: array<u32>;
@group(0) @binding(2) var<storage, read> sorted_values: array<u32>;
@group(0) @binding(3) var<storage, read> label_scan: array<u32>;

struct LovaszSegment {
    start: u32,   // first sorted position of the segment's kept pixels
    len: u32,     // kept pixels
    labels: u32,  // G: labels over all valid pixels of the segment
    valid: u32,   // valid pixels
}

@group(0) @binding(4) var<storage, read> segments: array<LovaszSegment>;

struct LovaszTerm {
    label: u32,
    error: f32,
    grad: f32,
}

// The term at sorted position g of segment `seg`.
fn lovasz_at(g: u32, seg: u32) -> LovaszTerm {
    let s = segments[seg];
    let r = g - s.start;
    let base = select(0u, label_scan[max(s.start, 1u) - 1u], s.start > 0u);
    let c = label_scan[g] - base;
    let label = sorted_values[g] & 1u;
    let i = f32(s.labels - c);
    let u = f32(s.labels + r + 1u - c);
    var grad: f32;
    if (r == 0u || label == 1u) {
        grad = 1.0 / u;
    } else {
        grad = i / (u * (u - 1.0));
    }
    return LovaszTerm(label, key_error(sorted_keys[g]), grad);
}
