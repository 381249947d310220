// prelude.wgsl — shared by every segloss kernel (prepended to each kernel's source).
//
// Holds: the `Params` uniform (binding 0 of every kernel), the `Sums` record of per-segment
// sums, the data checks, and the per-pixel math: `activate` (sigmoid and its logs without
// cancellation), `pixel_sums` (one pixel's contribution to every sum) and `pixel_grad`
// (one pixel's dL/dinput from its segment's coefficients). The float64 reference mirrors
// these functions by name in src/cpu/pixel.rs.
//
// Transcendentals per pixel (logit input): 1 exp (z = e^-|x|); log1p(z) is a 7-term
// polynomial in s = z/(2+z) (no log); the focal modulator (1-p_t)^γ costs 1 log + 1 exp
// unless γ ∈ {0, 1, 2}. Probability input: 2 logs (+2 for a general γ).

// FLAG_* (Params::flags bits), FOCAL_FORM_SHIFT (bits 3-4: the focal form, 0 probability,
// 1 exp(-BCE), 2 log-sigmoid, 3 per-term) and WG_SIZE are generated from src/gpu/contract.rs
// and prepended when a kernel is assembled.
//
// Specialisation (src/gpu/specialize.rs): the kernels of the fused passes (stats_partials,
// grad, class_stats, class_grad) are made per request with the pipeline-overridable constants
// below fixed, so the branches a request never takes are removed when the pipeline is
// compiled. A uniform branch is free on a GPU, but CPU adapters (lavapipe, llvmpipe) run both
// sides of every branch under a lane mask: the generic kernel paid for the probability path,
// the f16 and u8 decoders and every focal form on every pixel. Left at SPEC_RUNTIME (the
// default, and what every other kernel gets), each fact is read from `params` at run time.

const NONE: u32 = 0xffffffffu;
const MIN_NORMAL: f32 = 1.17549435e-38;
const LOG_CLAMP: f32 = 100.0;

// Sizes and per-pixel parameters; sizes are runtime values, never baked into the shader.
struct Params {
    chunk_len: u32,       // elements in this chunk
    seg_len: u32,         // pixels per segment (image)
    seg_offset: u32,      // position of the chunk's first element inside its segment
    n_seg: u32,           // segments this chunk touches
    wg_per_seg: u32,      // first-pass workgroups per segment
    flags: u32,           // FLAG_*
    n_threads: u32,       // invocations of a grid-stride dispatch (grad pass)
    classes: u32,         // C (multiclass kernels)
    ignore_value: f32,
    pos_weight: f32,
    label_smoothing: f32,
    focal_alpha: f32,
    focal_gamma: f32,
    wce_beta: f32,
    target_format: u32,   // class map: 0 = u32, 1 = u16 (two per word), 2 = u8 (four per word)
    ignore_index: u32,    // class index of ignored pixels (with FLAG_IGNORE)
    class_index: u32,     // Lovasz softmax: the class being sorted
    plane: u32,           // Lovasz: pixels per image
    lovasz_mode: u32,     // Lovasz: 0 = hinge, 1 = softmax
    first_seg: u32,       // grad.wgsl: index of the chunk's first segment in `coefs`
}

@group(0) @binding(0) var<uniform> params: Params;

override SPEC_FLAGS: u32 = SPEC_RUNTIME;   // = Params::flags
override SPEC_GAMMA: u32 = SPEC_RUNTIME;   // GAMMA_ZERO, GAMMA_ONE, GAMMA_TWO or GAMMA_OTHER
override SPEC_MAP: u32 = SPEC_RUNTIME;     // = Params::target_format (class maps)
override SPEC_TERMS: u32 = TERMS_ALL;      // backward: TERM_* whose coefficient may be non-zero

fn flags() -> u32 {
    if (SPEC_FLAGS == SPEC_RUNTIME) {
        return params.flags;
    }
    return SPEC_FLAGS;
}

fn has_flag(bit: u32) -> bool {
    return (flags() & bit) != 0u;
}

fn focal_form() -> u32 {
    return (flags() >> FOCAL_FORM_SHIFT) & 3u;
}

// The case of γ that focal_modulator spells out (src/gpu/specialize.rs `gamma_case` mirrors it).
fn gamma_case() -> u32 {
    if (SPEC_GAMMA != SPEC_RUNTIME) {
        return SPEC_GAMMA;
    }
    let g = params.focal_gamma;
    return select(select(select(GAMMA_OTHER, GAMMA_TWO, g == 2.0), GAMMA_ONE, g == 1.0), GAMMA_ZERO, g == 0.0);
}

fn term_possible(term: u32) -> bool {
    return (SPEC_TERMS & term) != 0u;
}

// Per-segment sums. f0 = (Σp, Σt, Σpt, Σp²), f1 = (Σt², Σ|p−t|, ΣBCE, ΣFocal),
// f2.x = ΣWCE, n = (valid pixels, hard TP, hard FP, hard FN). 64 bytes.
struct Sums {
    f0: vec4<f32>,
    f1: vec4<f32>,
    f2: vec4<f32>,
    n: vec4<u32>,
}

fn sums_zero() -> Sums {
    return Sums(vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<u32>(0u));
}

fn sums_add(a: Sums, b: Sums) -> Sums {
    return Sums(a.f0 + b.f0, a.f1 + b.f1, a.f2 + b.f2, a.n + b.n);
}

// Blocked (cascade) accumulator for one invocation's grid-stride loop. A plain running f32
// sum of n values errs by up to ~n·2^-24 relative (2e-6 at the ~1024 values per invocation
// of a CPU adapter at 16.7M pixels), and compensated (Kahan) summation is no fix on every
// adapter: its correction (t − s) − y is algebraically 0, and shader compilers that
// reassociate floats (Mesa's NIR on lavapipe and llvmpipe does) fold it away. A cascade needs
// no identity to survive: values are added into a block of 8 (`l0`); every 8 values the
// block is added to `l1` and cleared, every 64 `l1` to `l2`, every 512 `l2` to `l3`. Each
// running sum then sees at most 8 additions per level (n/512 at the top), so the rounding
// error grows like 3·8 + n/512 additions instead of n, whatever the compiler does with
// the association of independent sums. Integer counts are exact and kept once (`n`).
// Fixed shape ⇒ the same inputs give the same bits run after run.
struct Part {
    f0: vec4<f32>,
    f1: vec4<f32>,
    f2: vec4<f32>,
}

struct Cascade {
    l0: Part,
    l1: Part,
    l2: Part,
    l3: Part,
    n: vec4<u32>,
    k: u32,       // values added so far
}

fn part_zero() -> Part {
    return Part(vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0));
}

fn part_add(a: Part, b: Part) -> Part {
    return Part(a.f0 + b.f0, a.f1 + b.f1, a.f2 + b.f2);
}

fn cascade_zero() -> Cascade {
    return Cascade(part_zero(), part_zero(), part_zero(), part_zero(), vec4<u32>(0u), 0u);
}

fn cascade_add(c: Cascade, v: Sums) -> Cascade {
    var r = c;
    r.l0 = part_add(r.l0, Part(v.f0, v.f1, v.f2));
    r.n = r.n + v.n;
    r.k = r.k + 1u;
    if ((r.k & 7u) == 0u) {
        r.l1 = part_add(r.l1, r.l0);
        r.l0 = part_zero();
        if ((r.k & 63u) == 0u) {
            r.l2 = part_add(r.l2, r.l1);
            r.l1 = part_zero();
            if ((r.k & 511u) == 0u) {
                r.l3 = part_add(r.l3, r.l2);
                r.l2 = part_zero();
            }
        }
    }
    return r;
}

// The same cascade fed a block at a time: `block` holds up to 8 values already added
// together (the caller's l0) and goes to l1; l1 to l2 every 8 blocks, l2 to l3 every 64.
// A loop that sums 8 strides into a register block has no per-value counter or branch
// (accumulate.wgsl: −12 % on the binary forward pass on lavapipe).
fn cascade_add_block(c: Cascade, block: Part, n: vec4<u32>) -> Cascade {
    var r = c;
    r.l1 = part_add(r.l1, block);
    r.n = r.n + n;
    r.k = r.k + 1u;
    if ((r.k & 7u) == 0u) {
        r.l2 = part_add(r.l2, r.l1);
        r.l1 = part_zero();
        if ((r.k & 63u) == 0u) {
            r.l3 = part_add(r.l3, r.l2);
            r.l2 = part_zero();
        }
    }
    return r;
}

// The total, smallest levels first.
fn cascade_total(c: Cascade) -> Sums {
    let f = part_add(part_add(part_add(c.l0, c.l1), c.l2), c.l3);
    return Sums(f.f0, f.f1, f.f2, c.n);
}

// Bit test instead of x != x: shader compilers may assume floats are finite.
fn is_finite(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u;
}

fn input_ok(x: f32) -> bool {
    if (!is_finite(x)) {
        return false;
    }
    if (has_flag(FLAG_PROBABILITIES)) {
        return x >= 0.0 && x <= 1.0;
    }
    return true;
}

fn is_ignored(t: f32) -> bool {
    return has_flag(FLAG_IGNORE) && is_finite(t) && t == params.ignore_value;
}

fn target_ok(t: f32) -> bool {
    return is_finite(t) && t >= 0.0 && t <= 1.0;
}

// IEEE binary16 bits → f32, exactly: normal numbers rebias the exponent (15 → 127),
// subnormals are m·2^-24, infinities and NaNs keep their payload.
fn half_to_f32(h: u32) -> f32 {
    let sign = (h & 0x8000u) << 16u;
    let e = (h >> 10u) & 0x1fu;
    let m = h & 0x3ffu;
    if (e == 0u) {
        let v = f32(m) * 5.9604644775390625e-8;
        return select(v, -v, sign != 0u);
    }
    if (e == 31u) {
        return bitcast<f32>(sign | 0x7f800000u | (m << 13u));
    }
    return bitcast<f32>(sign | ((e + 112u) << 23u) | (m << 13u));
}

// log(1+z) for z in [0, 1]: 2·atanh(s), s = z/(2+z) ≤ 1/3, series to s^13
// (truncation ≤ 2e-8 relative). Accurate where log(1+z) would cancel.
fn log1p_unit(z: f32) -> f32 {
    let s = z / (2.0 + z);
    let s2 = s * s;
    let poly = 1.0 + s2 * (1.0 / 3.0 + s2 * (1.0 / 5.0 + s2 * (1.0 / 7.0 + s2 * (1.0 / 9.0
        + s2 * (1.0 / 11.0 + s2 * (1.0 / 13.0))))));
    return 2.0 * s * poly;
}

// p, q = 1−p, −ln p, −ln q, their derivatives and dp/dinput.
struct Act {
    p: f32,
    q: f32,
    nlp: f32,
    nlq: f32,
    d_nlp: f32,
    d_nlq: f32,
    dp: f32,
}

fn activate(x: f32) -> Act {
    if (has_flag(FLAG_PROBABILITIES)) {
        let p = x;
        let q = 1.0 - x;
        var a = Act(p, q, LOG_CLAMP, LOG_CLAMP, 0.0, 0.0, 1.0);
        if (p >= MIN_NORMAL) {
            a.nlp = -log(p);
            a.d_nlp = -1.0 / p;
        }
        if (q >= MIN_NORMAL) {
            a.nlq = -log(q);
            a.d_nlq = 1.0 / q;
        }
        return a;
    }
    let z = exp(-abs(x));
    let l = log1p_unit(z);
    let inv = 1.0 / (1.0 + z);
    var p: f32;
    var q: f32;
    var nlp: f32;
    var nlq: f32;
    if (x >= 0.0) {
        p = inv;
        q = z * inv;
        nlp = l;
        nlq = x + l;
    } else {
        p = z * inv;
        q = inv;
        nlp = l - x;
        nlq = l;
    }
    return Act(p, q, nlp, nlq, -q, p, p * q);
}

fn predicted_positive(x: f32) -> bool {
    if (has_flag(FLAG_PROBABILITIES)) {
        return x >= 0.5;
    }
    return x >= 0.0;
}

// (1 − p_t)^γ with the cheap cases spelled out; 0^γ = 0 for γ > 0.
fn focal_modulator(qt: f32) -> f32 {
    let gc = gamma_case();
    if (gc == GAMMA_ZERO) {
        return 1.0;
    }
    if (gc == GAMMA_ONE) {
        return qt;
    }
    if (gc == GAMMA_TWO) {
        return qt * qt;
    }
    if (qt > 0.0) {
        return exp(params.focal_gamma * log(qt));
    }
    return 0.0;
}

fn focal_alpha_t(t: f32) -> f32 {
    if (has_flag(FLAG_FOCAL_ALPHA)) {
        return params.focal_alpha * t + (1.0 - params.focal_alpha) * (1.0 - t);
    }
    return 1.0;
}

// 1 − p_t of the focal factor and its derivative with respect to the input, by form.
fn focal_qt(a: Act, t: f32, bce0: f32, d_bce0: f32) -> vec2<f32> {
    let form = focal_form();
    if (form == 1u) {
        // 1 − e^−b without cancellation for small b.
        let e = exp(-bce0);
        var q = 1.0 - e;
        if (bce0 < 0.03) {
            q = bce0 * (1.0 - 0.5 * bce0 * (1.0 - bce0 / 3.0 * (1.0 - 0.25 * bce0)));
        }
        return vec2<f32>(q, e * d_bce0);
    }
    if (form == 2u) {
        // σ(x·(1 − 2t)), x = ln p − ln(1 − p) (the logit itself for logit input).
        let k = 1.0 - 2.0 * t;
        let u = (a.nlq - a.nlp) * k;
        let z = exp(-abs(u));
        let s = select(z / (1.0 + z), 1.0 / (1.0 + z), u >= 0.0);
        return vec2<f32>(s, s * (1.0 - s) * k * (a.d_nlq - a.d_nlp));
    }
    return vec2<f32>(a.p * (1.0 - t) + t * a.q, (1.0 - 2.0 * t) * a.dp);
}

// One pixel's focal loss and its derivative with respect to the input.
fn focal_pixel(a: Act, t: f32) -> vec2<f32> {
    let g = params.focal_gamma;
    if (focal_form() == 3u) {
        // kornia: t·α·(1−p)^γ·(−ln p) + (1−t)(1−α)·p^γ·(−ln(1−p)).
        var wp = 1.0;
        var wn = 1.0;
        if (has_flag(FLAG_FOCAL_ALPHA)) {
            wp = params.focal_alpha;
            wn = 1.0 - params.focal_alpha;
        }
        let mq = focal_modulator(a.q);
        let mp = focal_modulator(a.p);
        var dq = 0.0;
        if (a.q > 0.0 && g != 0.0) {
            dq = -g * (a.nlp / a.q) * mq * a.dp;
        }
        var dp = 0.0;
        if (a.p > 0.0 && g != 0.0) {
            dp = g * (a.nlq / a.p) * mp * a.dp;
        }
        let v = t * wp * mq * a.nlp + (1.0 - t) * wn * mp * a.nlq;
        let d = t * wp * (mq * a.d_nlp + dq) + (1.0 - t) * wn * (mp * a.d_nlq + dp);
        return vec2<f32>(v, d);
    }
    let bce0 = t * a.nlp + (1.0 - t) * a.nlq;
    let d_bce0 = t * a.d_nlp + (1.0 - t) * a.d_nlq;
    let qt = focal_qt(a, t, bce0, d_bce0);
    let modulator = focal_modulator(qt.x);
    // γ·bce0·qt^(γ−1)·dqt written as γ·(bce0/qt)·qt^γ·dqt: bounded as qt → 0.
    var focus = 0.0;
    if (qt.x > 0.0 && g != 0.0) {
        focus = g * (bce0 / qt.x) * modulator * qt.y;
    }
    let at = focal_alpha_t(t);
    return vec2<f32>(at * modulator * bce0, at * (d_bce0 * modulator + focus));
}

// Whether the forward pass computes the log-loss sum that `no_flag` (FLAG_NO_BCE,
// FLAG_NO_FOCAL, FLAG_NO_WCE) leaves out. A sum left out stays 0 here; the host makes it NaN.
fn log_sum_wanted(no_flag: u32) -> bool {
    return !has_flag(no_flag);
}

// One valid pixel's contribution to every sum (the log-loss sums only where wanted).
fn pixel_sums(x: f32, t: f32) -> Sums {
    let a = activate(x);
    let p = a.p;
    var bce = 0.0;
    if (log_sum_wanted(FLAG_NO_BCE)) {
        let ts = t * (1.0 - params.label_smoothing) + 0.5 * params.label_smoothing;
        bce = params.pos_weight * ts * a.nlp + (1.0 - ts) * a.nlq;
    }
    var wce = 0.0;
    if (log_sum_wanted(FLAG_NO_WCE)) {
        let b = params.wce_beta;
        wce = b * t * a.nlp + (1.0 - b) * (1.0 - t) * a.nlq;
    }
    var focal = 0.0;
    if (log_sum_wanted(FLAG_NO_FOCAL)) {
        focal = focal_pixel(a, t).x;
    }
    let pred = predicted_positive(x);
    let truth = t >= 0.5;
    return Sums(
        vec4<f32>(p, t, p * t, p * p),
        vec4<f32>(t * t, abs(p - t), bce, focal),
        vec4<f32>(wce, 0.0, 0.0, 0.0),
        vec4<u32>(1u, select(0u, 1u, pred && truth), select(0u, 1u, pred && !truth), select(0u, 1u, !pred && truth)),
    );
}

// ∂L/∂S of one segment for the sums that depend on the input. 32 bytes.
struct Coef {
    sp: f32,
    tp: f32,
    spp: f32,
    sad: f32,
    bce: f32,
    focal: f32,
    wce: f32,
    smin: f32,   // ∂L/∂Σmin(p, t) (SoftL1 true positives); a pixel's derivative is [p < t]
}

// ∂L/∂p of one pixel through the region sums: sp + tp·t + 2·spp·p + sad·sign(p − t)
// + smin·[p < t] (½ at p = t). Terms the pipeline was made without (SPEC_TERMS) are compiled
// out, their coefficient loads with them; the others are added in this order.
fn region_derivative(c: Coef, p: f32, t: f32) -> f32 {
    var g = c.sp + c.tp * t;
    if (term_possible(TERM_SPP)) {
        g += c.spp * 2.0 * p;
    }
    let sg = sign(p - t);
    if (term_possible(TERM_SAD)) {
        g += c.sad * sg;
    }
    if (term_possible(TERM_SMIN)) {
        g += c.smin * (1.0 - sg) * 0.5;
    }
    return g;
}

// The weighted-CE part of the coefficient of ln p_c in a multiclass pixel: −wce (the BCE
// part, −bce, belongs to the target class alone; class_grad.wgsl loads it once per pixel).
fn wce_coefficient(c: Coef) -> f32 {
    if (term_possible(TERM_WCE)) {
        return -c.wce;
    }
    return 0.0;
}

// dL/dinput of one valid pixel: Σ_j ∂L/∂S_j · ∂s_j/∂input.
fn pixel_grad(x: f32, t: f32, c: Coef) -> f32 {
    let a = activate(x);
    var g = region_derivative(c, a.p, t) * a.dp;
    // Terms the pipeline was made without (SPEC_TERMS) are compiled out; a term whose
    // coefficient is 0 for the segment is skipped (uniform per segment: a saving on GPUs).
    if (term_possible(TERM_BCE) && c.bce != 0.0) {
        let ts = t * (1.0 - params.label_smoothing) + 0.5 * params.label_smoothing;
        g += c.bce * (params.pos_weight * ts * a.d_nlp + (1.0 - ts) * a.d_nlq);
    }
    if (term_possible(TERM_WCE) && c.wce != 0.0) {
        let b = params.wce_beta;
        g += c.wce * (b * t * a.d_nlp + (1.0 - b) * (1.0 - t) * a.d_nlq);
    }
    if (!term_possible(TERM_FOCAL) || c.focal == 0.0) {
        return g;
    }
    g += c.focal * focal_pixel(a, t).y;
    return g;
}

// First (inclusive) and one-past-last chunk element of chunk-local segment `seg`.
fn segment_range(seg: u32) -> vec2<u32> {
    let first = seg * params.seg_len;
    let start = select(first - params.seg_offset, 0u, first < params.seg_offset);
    let end = min(first + params.seg_len - params.seg_offset, params.chunk_len);
    return vec2<u32>(start, end);
}
