// classes.wgsl — shared by the multiclass kernels (class_stats.wgsl, class_pixels.wgsl,
// class_planes.wgsl, class_grad.wgsl, the Lovasz softmax kernels).
//
// Layout of a chunk: `n_seg` images of `seg_len` pixels; logits [image][class][pixel]
// (class planes `seg_len` apart; f32, or IEEE halves with FLAG_INPUT_F16, read by `logit`),
// the class map [image][pixel] packed in u32 words
// (`target_format`: u32, two u16 or four u8 per word, little-endian). Declares bindings
// 1 (logits) and 2 (class map), and the per-pixel softmax: max (argmax, lowest index on
// ties), Σ e^{x−m} and Σ_{c≠k} e^{x−m}, so that q = 1 − p_k has no cancellation.
// The softmax reads each logit once (an online maximum: the running sums are rescaled by
// e^{m_old − m_new} as the maximum grows); a second loop over the logits cost more than
// the extra exponential on every adapter measured (PERFORMANCE.md).
// Transcendentals per pixel: 2(C − 1) exp + 1 log. `class_sums`: the forward sums of one
// (pixel, class) from the pixel's softmax summary.

@group(0) @binding(1) var<storage, read> logits: array<u32>;
@group(0) @binding(2) var<storage, read> class_map: array<u32>;

const NO_CLASS: u32 = 0xffffffffu;

// The class map's format: SPEC_MAP in a specialised pipeline, else `params.target_format`.
fn map_format() -> u32 {
    if (SPEC_MAP == SPEC_RUNTIME) {
        return params.target_format;
    }
    return SPEC_MAP;
}

fn class_at(i: u32) -> u32 {
    switch map_format() {
        case 1u: {
            return (class_map[i >> 1u] >> ((i & 1u) * 16u)) & 0xffffu;
        }
        case 2u: {
            return (class_map[i >> 2u] >> ((i & 3u) * 8u)) & 0xffu;
        }
        default: {
            return class_map[i];
        }
    }
}

fn class_ignored(k: u32) -> bool {
    return has_flag(FLAG_IGNORE) && k == params.ignore_index;
}

// Logit i of the chunk: f32, or with FLAG_INPUT_F16 an IEEE half (two per word, low first).
fn logit(i: u32) -> f32 {
    if (has_flag(FLAG_INPUT_F16)) {
        return half_to_f32((logits[i >> 1u] >> (16u * (i & 1u))) & 0xffffu);
    }
    return bitcast<f32>(logits[i]);
}

// Index of logit (image, class, pixel) in the chunk.
fn logit_index(img: u32, c: u32, pix: u32) -> u32 {
    return (img * params.classes + c) * params.seg_len + pix;
}

struct Softmax {
    lse: f32,
    argmax: u32,
    q: f32,        // 1 − p_k
    finite: bool,  // every logit of the pixel is finite
}

// The softmax of pixel `pix` of image `img` whose target class is `k` (lse, argmax, 1 − p_k).
fn pixel_softmax(img: u32, pix: u32, k: u32) -> Softmax {
    var m = logit(logit_index(img, 0u, pix));
    var argmax = 0u;
    var finite = is_finite(m);
    var s = 1.0;
    var s_not_k = select(1.0, 0.0, k == 0u);
    for (var c = 1u; c < params.classes; c++) {
        let x = logit(logit_index(img, c, pix));
        finite = finite && is_finite(x);
        let m_new = max(m, x);
        let r = exp(m - m_new);
        let e = exp(x - m_new);
        if (x > m) {
            argmax = c;
        }
        m = m_new;
        s = s * r + e;
        s_not_k = s_not_k * r + select(e, 0.0, c == k);
    }
    if (!finite) {
        return Softmax(0.0, 0u, 0.0, false);
    }
    return Softmax(m + log(s), argmax, s_not_k / s, true);
}

// The forward sums of class `c` at one valid pixel: `packed` = k | argmax << 16 (its class and
// argmax), `nl` = lse − x_c = −ln p_c, `q` = 1 − p_k (read only for focal sums). Σp, Σt,
// Σpt, Σp², Σt, Σ|p−t|; Σ_{k=c} −ln p_c (`bce` slot), Σ_{k=c} (1−p_k)^γ·(−ln p_c) (`focal`),
// Σ −ln p_c (`wce`) — each of these three only where the request reads it (FLAG_NO_*, 0
// otherwise) —; the pixel count and argmax TP/FP/FN of class c.
fn class_sums(c: u32, packed: u32, nl: f32, q: f32) -> Sums {
    let k = packed & 0xffffu;
    let pred = packed >> 16u;
    let p = exp(-nl);
    let hit = k == c;
    let t = select(0.0, 1.0, hit);
    var v = Sums(
        vec4<f32>(p, t, p * t, p * p),
        vec4<f32>(t, abs(p - t), 0.0, 0.0),
        vec4<f32>(0.0, 0.0, 0.0, 0.0),
        vec4<u32>(1u, select(0u, 1u, hit && pred == c), select(0u, 1u, !hit && pred == c),
            select(0u, 1u, hit && pred != c)),
    );
    if (log_sum_wanted(FLAG_NO_WCE)) {
        v.f2.x = nl;
    }
    if (hit && log_sum_wanted(FLAG_NO_BCE)) {
        v.f1.z = nl;
    }
    if (hit && log_sum_wanted(FLAG_NO_FOCAL)) {
        v.f1.w = focal_modulator(q) * nl;
    }
    return v;
}
