// class_checks.wgsl — the per-pixel first step of the multiclass forward pass, shared by
// class_stats.wgsl (fused) and class_pixels.wgsl (class planes): read the pixel's class,
// check it and the pixel's logits, take its softmax summary, count the confusion matrix.
// Declares bindings 4 (status: first bad-logit pixel, first bad-class pixel; atomicMin, so
// order-free) and 5 (confusion, C×C atomic u32, row = class, column = argmax).

@group(0) @binding(4) var<storage, read_write> status: array<atomic<u32>, 2>;
@group(0) @binding(5) var<storage, read_write> confusion: array<atomic<u32>>;

struct Classified {
    packed: u32,     // k | argmax << 16, or NO_CLASS (ignored, bad class, non-finite logit)
    lse: f32,
    q: f32,          // 1 − p_k
    bad_logit: bool, // some logit of the pixel is not finite
    bad_class: bool, // the class is neither in [0, C) nor ignored
}

// Pixel `pix` of image `img`; with `count`, its (class, argmax) cell of the confusion matrix
// is incremented (integers: order-free).
fn classify(img: u32, pix: u32, count: bool) -> Classified {
    let k = class_at(img * params.seg_len + pix);
    let sm = pixel_softmax(img, pix, min(k, params.classes - 1u));
    var out = Classified(NO_CLASS, sm.lse, sm.q, !sm.finite, false);
    if (class_ignored(k)) {
        return out;
    }
    if (k >= params.classes) {
        out.bad_class = true;
        return out;
    }
    if (sm.finite) {
        out.packed = k | (sm.argmax << 16u);
        if (count) {
            atomicAdd(&confusion[k * params.classes + sm.argmax], 1u);
        }
    }
    return out;
}

// Records an invocation's first bad pixels (chunk-local; NONE = none).
fn report_bad(bad_logit: u32, bad_class: u32) {
    if (bad_logit != NONE) {
        atomicMin(&status[0], bad_logit);
    }
    if (bad_class != NONE) {
        atomicMin(&status[1], bad_class);
    }
}
