// class_stats.wgsl — the fused multiclass forward pass, first stage: softmax over C per
// pixel and every per-(image, class) sum, in one read of the logits from memory.
//
// Algorithm: workgroup (x, y, z) handles image y, class block z (classes 256·z …), and
// the tiles x, x + wg_per_seg, … of 256 pixels. Per tile:
//   1. invocation j takes pixel j: class k (bad index → status[1]), softmax pieces
//      (classes.wgsl; non-finite logit → status[0]), argmax; block 0 counts the C×C
//      confusion matrix with atomicAdd (integers: order-free). lse, q = 1 − p_k and
//      k | argmax << 16 go to workgroup memory.
//   2. invocation (class c, lane r) — R = 256 / C lanes per class when C ≤ 256, else 1 —
//      walks pixels r, r + R, … of the tile, reads x_c (hot in cache from step 1),
//      p_c = e^{x_c − lse}, and accumulates (cascade, prelude.wgsl) Σp, Σt, Σpt, Σp², Σt, Σ|p−t|,
//      Σ_{k=c} −ln p_c (`bce` slot), Σ_{k=c} (1−p_c)^γ·(−ln p_c) (`focal`), Σ −ln p_c
//      (`wce`) — each of these three only where the request reads it (FLAG_NO_*, left 0
//      otherwise) —, valid pixels and argmax TP/FP/FN of class c.
// No reduction in the workgroup: each (class, lane) writes its own partial
// partials[((y·C + c)·wg_per_seg + x)·R + r]; stats_final.wgsl adds a row's
// wg_per_seg·R partials in a fixed order.
//
// Bindings: 0 params · 1 logits f32 · 2 class map u32 (packed) · 3 partials array<Sums>
//           4 status [first bad-logit pixel, first bad-class pixel] · 5 confusion (atomic u32, C×C)
// Dispatch: (wg_per_seg, n_seg, ⌈C/256⌉); workgroup 256 × 1 × 1; 3 KiB workgroup memory.
// Transcendentals per pixel: 2(C − 1) exp + 1 log (softmax), C exp (step 2), +2 for a general γ.

@group(0) @binding(3) var<storage, read_write> partials: array<Sums>;
@group(0) @binding(4) var<storage, read_write> status: array<atomic<u32>, 2>;
@group(0) @binding(5) var<storage, read_write> confusion: array<atomic<u32>>;

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
            let k = class_at(flat);
            let sm = pixel_softmax(img, pix, min(k, params.classes - 1u));
            if (!sm.finite) {
                bad_logit = min(bad_logit, flat);
            }
            if (!class_ignored(k)) {
                if (k >= params.classes) {
                    bad_class = min(bad_class, flat);
                } else if (sm.finite) {
                    packed = k | (sm.argmax << 16u);
                    tile_lse[lid] = sm.lse;
                    if (log_sum_wanted(FLAG_NO_FOCAL)) {
                        tile_q[lid] = sm.q;
                    }
                    if (wid.z == 0u) {
                        atomicAdd(&confusion[k * params.classes + sm.argmax], 1u);
                    }
                }
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
                let k = pk & 0xffffu;
                let pred = pk >> 16u;
                let nl = tile_lse[j] - logit(logit_index(img, c, tile + j));
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
                    v.f1.w = focal_modulator(tile_q[j]) * nl;
                }
                acc = cascade_add(acc, v);
            }
        }
        workgroupBarrier();
    }
    if (bad_logit != NONE) {
        atomicMin(&status[0], bad_logit);
    }
    if (bad_class != NONE) {
        atomicMin(&status[1], bad_class);
    }
    if (in_block) {
        partials[((img * params.classes + c) * params.wg_per_seg + wid.x) * lanes + lane] = cascade_total(acc);
    }
}
