// class_stats.wgsl — the fused multiclass forward pass, first stage: softmax over C per
// pixel and every per-(image, class) sum, in one read of the logits from memory.
//
// Algorithm: workgroup (x, y, z) handles image y, class block z (classes 256·z …), and
// the tiles x, x + wg_per_seg, … of 256 pixels. Per tile:
//   1. invocation j takes pixel j: `classify` (class_checks.wgsl: class k, bad class →
//      status[1], softmax pieces, non-finite logit → status[0], argmax; block 0 counts the
//      C×C confusion matrix). lse, q = 1 − p_k and k | argmax << 16 go to workgroup memory.
//   2. invocation (class c, lane r) — R = 256 / C lanes per class when C ≤ 256, else 1 —
//      walks pixels r, r + R, … of the tile, reads x_c (hot in cache from step 1) and
//      accumulates (cascade, prelude.wgsl) `class_sums` (classes.wgsl) of class c.
// No reduction in the workgroup: each (class, lane) writes its own partial
// partials[((y·C + c)·wg_per_seg + x)·R + r]; stats_final.wgsl adds a row's
// wg_per_seg·R partials in a fixed order.
//
// The GPU strategy (`ClassStrategy::Fused`): one read of the logits. CPU adapters take
// class_pixels.wgsl + class_planes.wgsl instead (chunk.rs `Stage::Planes`).
//
// Bindings: 0 params · 1 logits f32 · 2 class map u32 (packed) · 3 partials array<Sums>
//           4 status [first bad-logit pixel, first bad-class pixel] · 5 confusion (atomic u32, C×C)
// Dispatch: (wg_per_seg, n_seg, ⌈C/256⌉); workgroup 256 × 1 × 1; 3 KiB workgroup memory.
// Transcendentals per pixel: 2(C − 1) exp + 1 log (softmax), C exp (step 2), +2 for a general γ.

@group(0) @binding(3) var<storage, read_write> partials: array<Sums>;

var<workgroup> tile_lse: array<f32, WG_SIZE>;
var<workgroup> tile_q: array<f32, WG_SIZE>;
var<workgroup> tile_class: array<u32, WG_SIZE>;

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let img = wid.y;
    let c_lo = wid.z * WG_SIZE;
    let block = min(WG_SIZE, params.classes - c_lo);
    let lanes = select(1u, WG_SIZE / params.classes, params.classes <= WG_SIZE);
    let c = c_lo + lid % block;
    let lane = lid / block;
    let in_block = lane < lanes && lid < lanes * block;
    var acc = cascade_zero();
    var bad_logit = NONE;
    var bad_class = NONE;
    for (var tile = wid.x * WG_SIZE; tile < params.seg_len; tile += params.wg_per_seg * WG_SIZE) {
        // Step 1: one pixel per invocation.
        let pix = tile + lid;
        var packed = NO_CLASS;
        if (pix < params.seg_len) {
            let flat = img * params.seg_len + pix;
            let px = classify(img, pix, wid.z == 0u);
            if (px.bad_logit) {
                bad_logit = min(bad_logit, flat);
            }
            if (px.bad_class) {
                bad_class = min(bad_class, flat);
            }
            packed = px.packed;
            tile_lse[lid] = px.lse;
            if (log_sum_wanted(FLAG_NO_FOCAL)) {
                tile_q[lid] = px.q;
            }
        }
        tile_class[lid] = packed;
        workgroupBarrier();
        // Step 2: one class (and lane) per invocation.
        if (in_block) {
            for (var j = lane; j < WG_SIZE; j += lanes) {
                let pk = tile_class[j];
                if (pk == NO_CLASS) {
                    continue;
                }
                var q = 0.0;
                if (log_sum_wanted(FLAG_NO_FOCAL)) {
                    q = tile_q[j];
                }
                let nl = tile_lse[j] - logit(logit_index(img, c, tile + j));
                acc = cascade_add(acc, class_sums(c, pk, nl, q));
            }
        }
        workgroupBarrier();
    }
    report_bad(bad_logit, bad_class);
    if (in_block) {
        partials[((img * params.classes + c) * params.wg_per_seg + wid.x) * lanes + lane] = cascade_total(acc);
    }
}
