// finalize.wgsl — loss values and backward coefficients from the per-segment sums, on the
// GPU: what a plan records instead of reading the sums back. It mirrors the host's f64
// `aggregate::evaluate` (`classwise`, `cross_entropy`, softmax focal, Generalized Dice)
// and the losses' `row` / `segment` (src/loss/*.rs) by name, in f32: Dice, IoU,
// Tversky, MCC, BCE, Focal, BCE-Dice, Combo (sigmoid rows), cross-entropy, Dice + CE, softmax
// Focal, Generalized Dice and multiclass Combo (softmax rows), each per image or pooled over
// the batch, with class weights, selection and absent-class policy.
//
// Algorithm (one workgroup, uniform control flow throughout):
//  1. merge: row r (image r / C, class r % C) = Σ, in chunk order, of the rows the chunks
//     covering it wrote (fixed order: deterministic); coefficients zeroed.
//  2. per term, in order: with batch aggregation the pooled class rows Σ_i row[i·C + c]
//     (image order) are stored after the N·C rows. Every segment (an image, or the pooled
//     batch) gets its value (`segment`, kept in a spare record); a tree reduction (tree.wgsl)
//     gives Σ value and the number of defined segments; then every non-empty row (one per
//     invocation) grows its coefficients by weight·∂value/∂S (`segment_coef`, O(1)) / defined
//     segments: O(N·C) per term.
//  3. out[0] = Σ weight·value, out[1 + t] = value of term t. If the forward pass flagged a
//     bad input or target (status ≠ NONE), every output is NaN and every coefficient 0.
//
// Bindings: 0 params (uniform; n_seg = N·C rows, classes = C, seg_len = N images,
//             chunk_len = chunks, wg_per_seg = terms)
//           1 chunk_rows array<Sums> (read) · 2 chunks array<ChunkRef> (read)
//           3 terms array<TermSpec> (read) · 4 class_w array<f32> (read; per term C class
//             weights, then C selection flags 1/0) · 5 status [bad input, bad target] (read)
//           6 rows array<Sums> (read_write; N·C merged rows, C pooled rows, then N segment
//             records between a term's two passes) · 7 coefs array<Coef> (read_write; N·C)
//           8 out array<f32> (read_write; 1 + terms)
// Dispatch: (1, 1, 1); workgroup 256 × 1 × 1.

struct ChunkRef {
    first_row: u32,   // first row the chunk touches
    n_rows: u32,      // rows it touches
    base: u32,        // index of its first row in chunk_rows
    _pad: u32,
}

// One term: kind, flags, absent-class policy, offset of its class weights, weight and the
// loss parameters p0…p6 (meaning by kind: see `row_loss`).
struct TermSpec {
    kind: u32,
    flags: u32,
    absent: u32,
    class_w: u32,
    weight: f32,
    p0: f32,
    p1: f32,
    p2: f32,
    p3: f32,
    p4: f32,
    p5: f32,
    p6: f32,
    undefined: f32,   // with T_COUNT_UNDEFINED: the value an undefined image counts as
}

// The K_* kinds (one per loss kind, numbered in the loss catalogue's order), the T_* term
// flags and the ABSENT_* codes are generated from src/finalize.rs and src/loss/mod.rs and
// prepended when the kernel is assembled: nothing here restates a Rust number.

@group(0) @binding(1) var<storage, read> chunk_rows: array<Sums>;
@group(0) @binding(2) var<storage, read> chunks: array<ChunkRef>;
@group(0) @binding(3) var<storage, read> terms: array<TermSpec>;
@group(0) @binding(4) var<storage, read> class_w: array<f32>;
@group(0) @binding(5) var<storage, read> status: array<u32, 2>;
@group(0) @binding(6) var<storage, read_write> rows: array<Sums>;
@group(0) @binding(7) var<storage, read_write> coefs: array<Coef>;
@group(0) @binding(8) var<storage, read_write> out: array<f32>;

// A loss value and its coefficients ∂loss/∂S.
struct Lc {
    v: f32,
    d: Coef,
}

fn coef_zero() -> Coef {
    return Coef(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
}

fn coef_scaled(c: Coef, k: f32) -> Coef {
    return Coef(c.sp * k, c.tp * k, c.spp * k, c.sad * k, c.bce * k, c.focal * k, c.wce * k, c.smin * k);
}

fn coef_plus(a: Coef, b: Coef) -> Coef {
    return Coef(a.sp + b.sp, a.tp + b.tp, a.spp + b.spp, a.sad + b.sad, a.bce + b.bce, a.focal + b.focal,
        a.wce + b.wce, a.smin + b.smin);
}

// loss/common.rs `ratio`: num / max(den, eps); a clamped denominator is a constant.
fn ratio(num: f32, dnum: Coef, den: f32, dden: Coef, eps: f32) -> Lc {
    if (den > eps) {
        return Lc(num / den, coef_plus(coef_scaled(dnum, 1.0 / den), coef_scaled(dden, -num / (den * den))));
    }
    return Lc(num / eps, coef_scaled(dnum, 1.0 / eps));
}

// loss/common.rs `reduce`: the mean over valid pixels, or the sum.
fn reduce_scale(t: TermSpec, s: Sums) -> f32 {
    if ((t.flags & T_SUM) != 0u) {
        return 1.0;
    }
    return 1.0 / f32(max(s.n.x, 1u));
}

// loss/common.rs `TpForm`: TP = Σpt, or (Σp + Σt − Σ|p−t|)/2 with T_SOFT_TP; and ∂TP/∂S.
fn true_positives(t: TermSpec, s: Sums) -> Lc {
    var d = coef_zero();
    if ((t.flags & T_SOFT_TP) != 0u) {
        d.smin = 1.0;
        return Lc((s.f0.x + s.f0.y - s.f1.y) / 2.0, d);
    }
    d.tp = 1.0;
    return Lc(s.f0.z, d);
}

// loss/dice.rs `Dice::score` (nr = p0, dr = p1, eps = p2; SoftL1 TP, squared denominator).
fn dice_score(t: TermSpec, s: Sums) -> Lc {
    let tpl = true_positives(t, s);
    let tp = tpl.v;
    let dtp = tpl.d;
    var den = s.f0.x + s.f0.y;
    var dden = coef_zero();
    dden.sp = 1.0;
    if ((t.flags & T_SQUARED) != 0u) {
        den = s.f0.w + s.f1.x;
        dden = coef_zero();
        dden.spp = 1.0;
    }
    return ratio(2.0 * tp + t.p0, coef_scaled(dtp, 2.0), den + t.p1, dden, t.p2);
}

// loss/dice.rs `Dice::value_and_coefficients`.
fn dice_loss(t: TermSpec, s: Sums) -> Lc {
    let d = dice_score(t, s);
    if ((t.flags & T_LOG) != 0u) {
        if (d.v > t.p2) {
            return Lc(-log(d.v), coef_scaled(d.d, -1.0 / d.v));
        }
        return Lc(-log(t.p2), coef_zero());
    }
    return Lc(1.0 - d.v, coef_scaled(d.d, -1.0));
}

// loss/iou.rs `Iou` (smooth = p0, eps = p2).
fn iou_loss(t: TermSpec, s: Sums) -> Lc {
    var dnum = coef_zero();
    dnum.tp = 1.0;
    var dden = coef_zero();
    dden.sp = 1.0;
    dden.tp = -1.0;
    let j = ratio(s.f0.z + t.p0, dnum, s.f0.x + s.f0.y - s.f0.z + t.p0, dden, t.p2);
    return Lc(1.0 - j.v, coef_scaled(j.d, -1.0));
}

// loss/tversky.rs `Tversky` (α = p0, β = p1, eps = p2, smooth = p3, γ = p4, smooth_dr = p5; SoftL1
// TP, squared sums and log loss as for Dice).
fn tversky_loss(t: TermSpec, s: Sums) -> Lc {
    let a = t.p0;
    let b = t.p1;
    let tpl = true_positives(t, s);
    let tp = tpl.v;
    let dtp = tpl.d;
    var sp = s.f0.x;
    var st = s.f0.y;
    var dsp = coef_zero();
    dsp.sp = a;
    if ((t.flags & T_SQUARED) != 0u) {
        sp = s.f0.w;
        st = s.f1.x;
        dsp = coef_zero();
        dsp.spp = a;
    }
    let den = tp + a * (sp - tp) + b * (st - tp) + t.p5;
    let tv = ratio(tp + t.p3, dtp, den, coef_plus(coef_scaled(dtp, 1.0 - a - b), dsp), t.p2);
    var base = Lc(max(1.0 - tv.v, 0.0), coef_scaled(tv.d, -1.0));
    if ((t.flags & T_LOG) != 0u) {
        base = Lc(-log(t.p2), coef_zero());
        if (tv.v > t.p2) {
            base = Lc(-log(tv.v), coef_scaled(tv.d, -1.0 / tv.v));
        }
    }
    if (t.p4 == 1.0) {
        return base;
    }
    if (base.v > 0.0) {
        let value = exp(t.p4 * log(base.v));
        return Lc(value, coef_scaled(base.d, t.p4 * value / base.v));
    }
    return Lc(0.0, coef_zero());
}

// loss/mcc.rs `Mcc` (eps = p0, smooth_nr = p1, smooth_dr = p2; T_MCC_PERFECT: FP = FN = 0 → 0).
// Above 2^24 valid pixels the confusion entries are scaled by k = 2^24 / n, so that the
// product of the four factors stays inside f32's range for any u32 count (k⁴·smooth_dr stays
// a normal f32); the value is scale-free and the coefficients are multiplied back by k.
fn mcc_loss(t: TermSpec, s: Sums) -> Lc {
    let fp0 = s.f0.x - s.f0.z;
    let fn0 = s.f0.y - s.f0.z;
    if ((t.flags & T_MCC_PERFECT) != 0u && fp0 == 0.0 && fn0 == 0.0) {
        return Lc(0.0, coef_zero());
    }
    let n = f32(s.n.x);
    let k = select(1.0, 16777216.0 / n, n > 16777216.0);
    let e = t.p0;
    let tp = (s.f0.z + e) * k;
    let tn = ((n - s.f0.y) - fp0 + e) * k;
    let fp = (fp0 + e) * k;
    let fn1 = (fn0 + e) * k;
    let num = tp * tn - fp * fn1 + t.p1 * k * k;
    // TP + FP = Σp, TP + FN = Σt, TN + FP = n − Σt, TN + FN = n − Σp (each + 2·eps).
    let f1 = (s.f0.x + 2.0 * e) * k;
    let f2 = (s.f0.y + 2.0 * e) * k;
    let f3 = (n - s.f0.y + 2.0 * e) * k;
    let f4 = (n - s.f0.x + 2.0 * e) * k;
    let den = sqrt(f1 * f2 * f3 * f4 + t.p2 * (k * k) * (k * k));
    let mcc = num / den;
    // loss/mcc.rs `coefficients`: g0 for t = 0, g1 for t = 1; all-1 or all-0 targets carry
    // the one that applies in sp alone.
    let slope = mcc * (f4 - f1) / (2.0 * den * den);
    let g0 = f2 * (1.0 / den + slope * f3) * k;
    let g1 = f3 * (-1.0 / den + slope * f2) * k;
    var d = coef_zero();
    if (s.f0.y == n) {
        d.sp = g1;
    } else if (s.f0.y == 0.0) {
        d.sp = g0;
    } else {
        d.sp = g0;
        d.tp = g1 - g0;
    }
    return Lc(1.0 - mcc, d);
}

// One class row's loss (each loss's `SumLoss::row`) for the class-wise kinds.
fn row_loss(t: TermSpec, s: Sums) -> Lc {
    switch t.kind {
        case K_DICE: {
            return dice_loss(t, s);
        }
        case K_IOU: {
            return iou_loss(t, s);
        }
        case K_TVERSKY: {
            return tversky_loss(t, s);
        }
        case K_MCC: {
            return mcc_loss(t, s);
        }
        case K_BCE: {
            let k = reduce_scale(t, s);
            var d = coef_zero();
            d.bce = k;
            return Lc(s.f1.z * k, d);
        }
        case K_FOCAL: {
            let k = reduce_scale(t, s);
            var d = coef_zero();
            d.focal = k;
            return Lc(s.f1.w * k, d);
        }
        case K_BCE_DICE: {
            // weight_bce = p5, weight_dice = p6; the Dice part uses p0…p2.
            let k = reduce_scale(t, s);
            let dice = dice_loss(t, s);
            var d = coef_scaled(dice.d, t.p6);
            d.bce = k * t.p5;
            return Lc(t.p5 * s.f1.z * k + t.p6 * dice.v, d);
        }
        case K_COMBO: {
            // Binary/multilabel Combo: α = p3; the Dice score uses smooth p0 = p1, eps p2.
            let k = 1.0 / f32(max(s.n.x, 1u));
            let dice = dice_score(t, s);
            var d = coef_scaled(dice.d, -(1.0 - t.p3));
            d.wce = t.p3 * k;
            return Lc(t.p3 * s.f2.x * k - (1.0 - t.p3) * dice.v, d);
        }
        default: {
            // A kind without a case here: NaN value and coefficients, never another loss.
            return unknown_kind();
        }
    }
}

fn unknown_kind() -> Lc {
    let nan = nan_f32();
    return Lc(nan, coef_scaled(coef_zero(), nan));
}

// A quiet NaN made at run time: a NaN (or infinite) const-expression is a shader-creation
// error in WGSL — Chrome's compiler (Tint) rejects `bitcast<f32>(0x7fc00000u)`, naga accepts
// it — and a `var` is never a const-expression.
fn nan_f32() -> f32 {
    var bits = 0x7fc00000u;
    return bitcast<f32>(bits);
}

fn class_weight(t: TermSpec, k: u32) -> f32 {
    return class_w[t.class_w + k];
}

fn class_selected(t: TermSpec, k: u32) -> bool {
    return class_w[t.class_w + params.classes + k] > 0.0;
}

// Whether the absent-class policy applies: the loss's `SumLoss::is_region`, sent as T_REGION.
fn is_region(t: TermSpec) -> bool {
    return (t.flags & T_REGION) != 0u;
}

// What class row s contributes to a class-wise mean: 0 nothing, 1 a zero loss that counts
// in the denominator (absent class, policy Zero), 2 its loss.
fn row_role(t: TermSpec, k: u32, s: Sums) -> u32 {
    if (!class_selected(t, k) || s.n.x == 0u) {
        return 0u;
    }
    if (is_region(t) && s.f0.y == 0.0 && t.absent != ABSENT_SMOOTHED) {
        return select(0u, 1u, t.absent == ABSENT_ZERO);
    }
    return 2u;
}

// loss/segment.rs `classwise` without the coefficients: (Σ w·loss, Σ norm) over the classes
// of the segment whose rows start at `base` (t.kind is the per-class loss).
fn classwise(t: TermSpec, base: u32) -> vec2<f32> {
    var acc = vec2<f32>(0.0, 0.0);
    for (var k = 0u; k < params.classes; k++) {
        let s = rows[base + k];
        let role = row_role(t, k, s);
        if (role == 0u) {
            continue;
        }
        acc.y += select(1.0, class_weight(t, k), (t.flags & T_NORMALIZE) != 0u);
        if (role == 2u) {
            acc.x += class_weight(t, k) * row_loss(t, s).v;
        }
    }
    return acc;
}

// ∂(classwise mean)/∂S of class k, the mean's denominator being den.
fn classwise_coef(t: TermSpec, base: u32, k: u32, den: f32) -> Coef {
    let s = rows[base + k];
    if (den <= 0.0 || row_role(t, k, s) != 2u) {
        return coef_zero();
    }
    return coef_scaled(row_loss(t, s).d, class_weight(t, k) / den);
}

// loss/cross_entropy.rs `cross_entropy`: (value, denominator) with smoothing eps; the class weights
// apply whatever the selection. Rows: bce = Σ_{pixels of class c} −ln p_c, wce = Σ −ln p_c.
fn cross_entropy(t: TermSpec, base: u32, eps: f32, sum: bool) -> vec2<f32> {
    var den = 1.0;
    if (!sum) {
        den = 0.0;
        for (var k = 0u; k < params.classes; k++) {
            den += class_weight(t, k) * rows[base + k].f0.y;
        }
    }
    if (den <= 0.0) {
        return vec2<f32>(0.0, 0.0);
    }
    let c = f32(params.classes);
    var value = 0.0;
    for (var k = 0u; k < params.classes; k++) {
        let s = rows[base + k];
        let w = class_weight(t, k);
        value += ((1.0 - eps) * w * s.f1.z + eps / c * w * s.f2.x) / den;
    }
    return vec2<f32>(value, den);
}

fn cross_entropy_coef(t: TermSpec, k: u32, eps: f32, den: f32) -> Coef {
    var d = coef_zero();
    if (den > 0.0) {
        let w = class_weight(t, k);
        d.bce = (1.0 - eps) * w / den;
        d.wce = eps / f32(params.classes) * w / den;
    }
    return d;
}

// loss/focal.rs `softmax_segment`: α_c from the class weights (T_WEIGHTS), else α (p0 ≥ 0) for
// classes ≥ 1 and 1 − α for class 0, else 1; the mean divides by the segment's valid pixels.
fn softmax_focal_alpha(t: TermSpec, k: u32) -> f32 {
    if ((t.flags & T_WEIGHTS) != 0u) {
        return class_weight(t, k);
    }
    if (t.p0 >= 0.0) {
        return select(t.p0, 1.0 - t.p0, k == 0u);
    }
    return 1.0;
}

fn softmax_focal_scale(t: TermSpec, base: u32) -> f32 {
    if ((t.flags & T_SUM) != 0u) {
        return 1.0;
    }
    var count = 1u;
    for (var k = 0u; k < params.classes; k++) {
        count = max(count, rows[base + k].n.x);
    }
    return 1.0 / f32(count);
}

// loss/generalized_dice.rs `segment_value`: class weight from Σt (square / simple / uniform); a class
// without a finite weight takes the largest finite weight of the segment's selected classes,
// or all_absent_weight (p2) when there is none.
fn gdl_raw(t: TermSpec, st: f32) -> f32 {
    if ((t.flags & T_GDL_UNIFORM) != 0u) {
        return 1.0;
    }
    if ((t.flags & T_GDL_SIMPLE) != 0u) {
        return 1.0 / st;
    }
    return 1.0 / (st * st);
}

fn gdl_weight(t: TermSpec, st: f32, finite_max: f32) -> f32 {
    let w = gdl_raw(t, st);
    if (is_finite(w)) {
        return w;
    }
    return select(t.p2, finite_max, finite_max >= 0.0);
}

// One segment of a term: its value, whether it is defined, and what its coefficients need
// (a: the class-wise / Dice denominator or the GDL numerator, b: the CE denominator or the
// GDL denominator, c: the focal scale or the GDL largest finite weight).
struct Segment {
    value: f32,
    defined: bool,
    a: f32,
    b: f32,
    c: f32,
}

// The Dice part of DiceCe / multiclass Combo as a class-wise term.
fn dice_part(t: TermSpec) -> TermSpec {
    var d = t;
    d.kind = K_DICE;
    d.flags |= T_REGION;
    return d;
}

fn segment(t: TermSpec, base: u32) -> Segment {
    var out = Segment(0.0, false, 0.0, 0.0, 0.0);
    var any = false;
    for (var k = 0u; k < params.classes; k++) {
        any = any || rows[base + k].n.x != 0u;
    }
    if (!any) {
        return out;
    }
    switch t.kind {
        case K_CE: {
            let e = cross_entropy(t, base, t.p3, (t.flags & T_SUM) != 0u);
            return Segment(e.x, e.y > 0.0, 0.0, e.y, 0.0);
        }
        case K_DICE_CE, K_COMBO_MC: {
            // DiceCe: Dice weight p5, CE weight p6, CE smoothing p3. Combo: α = p3 on a mean CE.
            let combo = t.kind == K_COMBO_MC;
            let d = classwise(dice_part(t), base);
            let e = cross_entropy(t, base, select(t.p3, 0.0, combo), (t.flags & T_SUM) != 0u && !combo);
            let wd = select(t.p5, 1.0 - t.p3, combo);
            let wc = select(t.p6, t.p3, combo);
            var v = 0.0;
            if (d.y > 0.0) {
                v += wd * d.x / d.y;
                if (combo) {
                    v -= 1.0 - t.p3;
                }
            }
            if (e.y > 0.0) {
                v += wc * e.x;
            }
            return Segment(v, d.y > 0.0 || e.y > 0.0, d.y, e.y, 0.0);
        }
        case K_SOFTMAX_FOCAL: {
            let scale = softmax_focal_scale(t, base);
            var v = 0.0;
            for (var k = 0u; k < params.classes; k++) {
                v += softmax_focal_alpha(t, k) * rows[base + k].f1.w * scale;
            }
            return Segment(v, true, 0.0, 0.0, scale);
        }
        case K_GDL: {
            var finite_max = -1.0;
            var selected = false;
            for (var k = 0u; k < params.classes; k++) {
                if (class_selected(t, k)) {
                    selected = true;
                    let w = gdl_raw(t, rows[base + k].f0.y);
                    if (is_finite(w)) {
                        finite_max = max(finite_max, w);
                    }
                }
            }
            var num = t.p0;
            var den = t.p1;
            for (var k = 0u; k < params.classes; k++) {
                if (class_selected(t, k)) {
                    let s = rows[base + k];
                    let w = gdl_weight(t, s.f0.y, finite_max);
                    num += 2.0 * w * true_positives(t, s).v;
                    den += w * (s.f0.x + s.f0.y);
                }
            }
            return Segment(1.0 - num / den, selected, num, den, finite_max);
        }
        default: {
            // The class-wise kinds (a row loss averaged over classes; row_loss is NaN for a
            // kind it does not know).
            let e = classwise(t, base);
            return Segment(e.x / e.y, e.y > 0.0, e.y, 0.0, 0.0);
        }
    }
}

// A segment kept between the two passes of a term in a spare `Sums` record.
fn segment_store(g: Segment) -> Sums {
    return Sums(vec4<f32>(g.value, g.a, g.b, g.c), vec4<f32>(0.0), vec4<f32>(0.0), vec4<u32>(select(0u, 1u, g.defined), 0u, 0u, 0u));
}

fn segment_load(s: Sums) -> Segment {
    return Segment(s.f0.x, s.n.x != 0u, s.f0.y, s.f0.z, s.f0.w);
}

// ∂(segment value)/∂S of class k of the segment at `base`.
fn segment_coef(t: TermSpec, g: Segment, base: u32, k: u32) -> Coef {
    switch t.kind {
        case K_CE: {
            return cross_entropy_coef(t, k, t.p3, g.b);
        }
        case K_DICE_CE, K_COMBO_MC: {
            let combo = t.kind == K_COMBO_MC;
            let d = classwise_coef(dice_part(t), base, k, g.a);
            let e = cross_entropy_coef(t, k, select(t.p3, 0.0, combo), g.b);
            return coef_plus(coef_scaled(d, select(t.p5, 1.0 - t.p3, combo)), coef_scaled(e, select(t.p6, t.p3, combo)));
        }
        case K_SOFTMAX_FOCAL: {
            var d = coef_zero();
            d.focal = softmax_focal_alpha(t, k) * g.c;
            return d;
        }
        case K_GDL: {
            var d = coef_zero();
            if (class_selected(t, k)) {
                let w = gdl_weight(t, rows[base + k].f0.y, g.c);
                let sp = g.a * w / (g.b * g.b);
                d.sp = sp;
                if ((t.flags & T_SOFT_TP) != 0u) {
                    d.smin = -2.0 * w / g.b;
                } else {
                    d.tp = -2.0 * w / g.b;
                }
            }
            return d;
        }
        default: {
            return classwise_coef(t, base, k, g.a);
        }
    }
}

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(local_invocation_index) lid: u32) {
    let n_rows = params.n_seg;
    let c = params.classes;
    let images = params.seg_len;
    let bad = status[0] != NONE || status[1] != NONE;
    // 1. merge the chunks' rows.
    for (var r = lid; r < n_rows; r += WG_SIZE) {
        var s = sums_zero();
        for (var k = 0u; k < params.chunk_len; k++) {
            let ch = chunks[k];
            if (r >= ch.first_row && r < ch.first_row + ch.n_rows) {
                s = sums_add(s, chunk_rows[ch.base + r - ch.first_row]);
            }
        }
        rows[r] = s;
        coefs[r] = coef_zero();
    }
    storageBarrier();
    workgroupBarrier();
    var total = 0.0;
    // 2. every term in order.
    for (var ti = 0u; ti < params.wg_per_seg; ti++) {
        let t = terms[ti];
        let per_image = (t.flags & T_PER_IMAGE) != 0u;
        if (!per_image) {
            for (var k = lid; k < c; k += WG_SIZE) {
                var s = sums_zero();
                for (var i = 0u; i < images; i++) {
                    s = sums_add(s, rows[i * c + k]);
                }
                rows[n_rows + k] = s;
            }
        }
        storageBarrier();
        workgroupBarrier();
        let n_segments = select(1u, images, per_image);
        var mine = sums_zero();
        for (var g = lid; g < n_segments; g += WG_SIZE) {
            let seg = segment(t, select(n_rows, g * c, per_image));
            rows[n_rows + c + g] = segment_store(seg);
            if (seg.defined) {
                mine.f0.x += seg.value;
                mine.n.x += 1u;
            } else if (per_image && (t.flags & T_COUNT_UNDEFINED) != 0u) {
                mine.f0.x += t.undefined;
                mine.n.x += 1u;
            }
        }
        storageBarrier();
        let sum = tree_reduce(lid, mine);
        let included = f32(sum.n.x);
        let value = select(sum.f0.x / included, 0.0, sum.n.x == 0u);
        total += t.weight * value;
        if (lid == 0u) {
            out[1u + ti] = value;
        }
        // One row per invocation, reading its segment (its image, or the pooled batch) as
        // stored above: O(1) per row.
        let scale = t.weight / included;
        for (var r = lid; r < n_rows && sum.n.x != 0u; r += WG_SIZE) {
            let base = select(n_rows, r / c * c, per_image);
            if (rows[r].n.x != 0u) {
                let seg = segment_load(rows[n_rows + c + select(0u, r / c, per_image)]);
                if (seg.defined) {
                    coefs[r] = coef_plus(coefs[r], coef_scaled(segment_coef(t, seg, base, r % c), scale));
                }
            }
        }
        storageBarrier();
        workgroupBarrier();
    }
    // 3. outputs.
    if (lid == 0u) {
        out[0] = select(total, nan_f32(), bad);
        if (bad) {
            for (var ti = 0u; ti < params.wg_per_seg; ti++) {
                out[1u + ti] = nan_f32();
            }
        }
    }
    if (bad) {
        for (var r = lid; r < n_rows; r += WG_SIZE) {
            coefs[r] = coef_zero();
        }
    }
}
