// class_pixels.wgsl — the multiclass forward pass by class planes (CPU adapters;
// `ClassStrategy::Planes`), step 1 of 2: each pixel's softmax summary, once, to memory.
//
// Algorithm: workgroup (x, y) takes pixels x·256 + lid, stepping wg_per_seg·256, of image y:
// `classify` (class_checks.wgsl: class k, bad class → status[1], non-finite logit → status[0],
// argmax, the C×C confusion count) and stores, at flat = y·seg_len + pixel, with n the
// chunk's pixels (`chunk_len`):
//   pixels[flat]        = lse (f32 bits)
//   pixels[n + flat]    = k | argmax << 16, or NO_CLASS (ignored, bad class, non-finite)
//   pixels[2n + flat]   = q = 1 − p_k (f32 bits; only when a focal sum is read)
// class_planes.wgsl then sums each (image, class) plane from this summary. No workgroup
// memory, no barrier.
//
// Bindings: 0 params · 1 logits · 2 class map (classes.wgsl) · 3 pixels u32 (read_write)
//           4 status · 5 confusion (class_checks.wgsl)
// Dispatch: (wg_per_seg, n_seg, 1); workgroup 256 × 1 × 1.
// Transcendentals per pixel: 2(C − 1) exp + 1 log.

@group(0) @binding(3) var<storage, read_write> pixels: array<u32>;

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let img = wid.y;
    let n = params.chunk_len;
    var bad_logit = NONE;
    var bad_class = NONE;
    for (var pix = wid.x * WG_SIZE + lid; pix < params.seg_len; pix += params.wg_per_seg * WG_SIZE) {
        let flat = img * params.seg_len + pix;
        let px = classify(img, pix, true);
        if (px.bad_logit) {
            bad_logit = min(bad_logit, flat);
        }
        if (px.bad_class) {
            bad_class = min(bad_class, flat);
        }
        pixels[flat] = bitcast<u32>(px.lse);
        pixels[n + flat] = px.packed;
        if (log_sum_wanted(FLAG_NO_FOCAL)) {
            pixels[2u * n + flat] = bitcast<u32>(px.q);
        }
    }
    report_bad(bad_logit, bad_class);
}
