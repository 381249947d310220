//! Accuracy of the GPU's f32 sums at 16.7M pixels in one image, against the float64
//! reference: every per-image sum and every loss within 1e-6 relative, on a constant logit
//! (the worst case for a plain running sum: every addend is equal, so rounding errors never
//! cancel) and on random data. A float32 sum with a plain running total per invocation is
//! ~2e-6 off here (each invocation of a CPU adapter adds ~1024 values); the compensated
//! accumulation of `accumulate.wgsl` must keep it at the level of a pairwise sum.
mod common;
use common::*;
use segloss::*;

const REL: f64 = 1e-6;

/// 4093 × 4099 = 16 777 207 pixels (odd, just under 2^24).
const H: usize = 4093;
const W: usize = 4099;

/// An engine capped at 16 workgroups: a stride of 4096 pixels, so each invocation adds 4096
/// values of one image this size (every level of the cascade fills), on any adapter.
fn capped() -> &'static Engine {
    static CAPPED: std::sync::OnceLock<Engine> = std::sync::OnceLock::new();
    CAPPED.get_or_init(|| gpu_with(EngineOptions { max_workgroups: Some(16), ..Default::default() }))
}

fn check(what: &str, x: &[f32], t: &[f32]) {
    // The default engine (on a CPU adapter 4 workgroups per thread, 8 to 64: 8 192 to 1 024
    // values per invocation) and the capped one.
    check_on(what, x, t, &[(shared_gpu(), "default"), (capped(), "16 workgroups")]);
}

fn check_on(what: &str, x: &[f32], t: &[f32], engines: &[(&Engine, &str)]) {
    let batch = BinaryBatch::new(x, t, &[1, H, W]).unwrap();
    let terms = &requests()[0];
    let want = Engine::cpu().forward(&batch, terms).unwrap();
    for &(engine, name) in engines {
        let got = engine.forward(&batch, terms).unwrap();
        compare(&format!("{what}, {name}"), terms, &got, &want);
    }
}

fn compare(what: &str, terms: &[Term], got: &Forward, want: &Forward) {
    let (g, w) = (&got.stats[0], &want.stats[0]);
    let mut failures = Vec::new();
    for (name, a, b) in [
        ("Σp", g.sp, w.sp),
        ("Σt", g.st, w.st),
        ("Σpt", g.tp, w.tp),
        ("Σp²", g.spp, w.spp),
        ("Σt²", g.stt, w.stt),
        ("Σ|p−t|", g.sad, w.sad),
        ("ΣBCE", g.bce, w.bce),
        ("Σfocal", g.focal, w.focal),
        ("ΣWCE", g.wce, w.wce),
    ] {
        let rel = (a - b).abs() / b.abs();
        eprintln!("{what} {name}: GPU {a} reference {b} rel {rel:.2e}");
        if rel.is_nan() || rel > REL {
            failures.push(format!("{name}: rel {rel:.2e}"));
        }
    }
    for ((term, a), b) in terms.iter().zip(&got.values).zip(&want.values) {
        let rel = (a - b).abs() / b.abs();
        eprintln!("{what} {}: GPU {a} reference {b} rel {rel:.2e}", term.label());
        if rel.is_nan() || rel > REL {
            failures.push(format!("{}: rel {rel:.2e}", term.label()));
        }
    }
    assert_eq!((g.count, g.hard_tp, g.hard_fp, g.hard_fn), (w.count, w.hard_tp, w.hard_fp, w.hard_fn), "{what}");
    assert!(failures.is_empty(), "{what}: beyond {REL:e} relative of the f64 reference: {failures:?}");
}

#[test]
fn constant_logit_16m_pixels_within_1e6() {
    let _serial = serial();
    let mut rng = Rng::new(0xacc);
    // p = σ(0.3) ≈ 0.574, not a short binary fraction; targets 0/1 at random (≈ 45 % ones).
    let x = vec![0.3f32; H * W];
    let t: Vec<f32> = (0..H * W).map(|_| (rng.next_u64() % 100 < 45) as u8 as f32).collect();
    check("constant logit", &x, &t);
}

/// Each invocation's first value is large (p ≈ 1) and its other 4095 tiny (p ≈ 4e-8): added
/// one block at a time to a running total that holds the large value, every block rounds the
/// same way (+0.23 ulp of 1), and Σp comes out 5e-6 high; the cascade adds the tiny blocks among
/// themselves first (1.5e-7 on the same data, simulated in f32).
#[test]
fn a_large_first_value_in_every_invocation_within_1e6() {
    let _serial = serial();
    let mut rng = Rng::new(0xace);
    let stride = 16 * 256;
    let x: Vec<f32> = (0..H * W).map(|i| if i < stride { 8.0 } else { -17.0 }).collect();
    let t: Vec<f32> = (0..H * W).map(|_| (rng.next_u64() % 100 < 45) as u8 as f32).collect();
    check_on("a large first value", &x, &t, &[(capped(), "16 workgroups")]);
}

#[test]
fn random_data_16m_pixels_within_1e6() {
    let _serial = serial();
    let mut rng = Rng::new(0xacd);
    let (x, t) = make_case(&mut rng, 1, H, W, Mask::Hard, 2.0);
    check("random", &x, &t);
}

/// Every per-pixel term on its own: 4001 images of one pixel each (so each image's sums are
/// one pixel's terms), logits −20 … 20 in steps of 0.01 (0 exactly included), hard and soft
/// targets, two parameter sets (γ = 2 and a general γ; label smoothing and pos_weight):
/// each sum within 1e-6 relative (+1e-7 absolute) of the f64 reference, and the thresholded
/// counts (p ≥ 0.5 is positive, so logit 0 is) exactly equal.
#[test]
fn every_pixel_term_within_1e6() {
    let _serial = serial();
    let gpu = shared_gpu();
    let n = 4001;
    let x: Vec<f32> = (0..n).map(|i| (i as f32 - 2000.0) / 100.0).collect();
    assert_eq!(x[2000], 0.0);
    let hard: Vec<f32> = (0..n).map(|i| (i % 3 == 0) as u8 as f32).collect();
    let soft: Vec<f32> = (0..n).map(|i| (i % 7) as f32 / 6.0).collect();
    for (kind, t) in [("hard", &hard), ("soft", &soft)] {
        let batch = BinaryBatch::new(&x, t, &[n, 1, 1]).unwrap();
        for (r, terms) in requests().iter().enumerate().take(2) {
            let got = gpu.forward(&batch, terms).unwrap();
            let want = Engine::cpu().forward(&batch, terms).unwrap();
            for (i, (g, w)) in got.stats.iter().zip(&want.stats).enumerate() {
                let what = format!("{kind} targets, request {r}, logit {}, target {}", x[i], t[i]);
                for (name, a, b) in [
                    ("p", g.sp, w.sp),
                    ("pt", g.tp, w.tp),
                    ("p²", g.spp, w.spp),
                    ("|p−t|", g.sad, w.sad),
                    ("BCE", g.bce, w.bce),
                    ("focal", g.focal, w.focal),
                    ("WCE", g.wce, w.wce),
                ] {
                    assert!(close(a, b, REL, 1e-7), "{what}: {name} GPU {a} vs reference {b}");
                }
                assert_eq!((g.hard_tp, g.hard_fp, g.hard_fn), (w.hard_tp, w.hard_fp, w.hard_fn), "{what}: counts");
            }
        }
    }
}

/// The multiclass pass at 4.2M pixels of a constant logit vector, C = 3, under both
/// strategies (`ClassStrategy`: class_stats.wgsl, one cascade per class lane; class_planes.wgsl,
/// one blocked cascade per invocation of a plane): every per-class sum and the losses within
/// 1e-6 of the f64 reference (a plain running sum per lane is ~1e-5 off here).
#[test]
fn multiclass_constant_logits_4m_pixels_within_1e6() {
    let _serial = serial();
    for (strategy, engine) in class_strategy_engines(EngineOptions::default()) {
        multiclass_constant_logits(&engine, &format!("default, {strategy:?}"));
    }
}

/// The same on engines capped at 16 workgroups: each class lane adds 4× as many values.
#[test]
fn multiclass_constant_logits_4m_pixels_16_workgroups_within_1e6() {
    let _serial = serial();
    for (strategy, engine) in class_strategy_engines(EngineOptions { max_workgroups: Some(16), ..Default::default() }) {
        multiclass_constant_logits(&engine, &format!("16 workgroups, {strategy:?}"));
    }
}

fn multiclass_constant_logits(engine: &Engine, name: &str) {
    let (c, h, w) = (3, 2047, 2049);
    let hw = h * w;
    let mut rng = Rng::new(0xc1a5);
    let proto = [0.3f32, -0.2, 0.1];
    let logits: Vec<f32> = (0..c * hw).map(|j| proto[j / hw]).collect();
    let map: Vec<u8> = (0..hw).map(|_| (rng.next_u64() % 3) as u8).collect();
    let batch = MulticlassBatch::new(&logits, ClassMap::U8(&map), &[1, c, h, w]).unwrap();
    let terms = [
        Loss::Dice(Dice::default()).batch(),
        Loss::Iou(Iou::default()).per_image(),
        Loss::Tversky(Tversky { alpha: 0.3, beta: 0.7, ..Tversky::default() }).batch(),
        Loss::CrossEntropy(CrossEntropy::default()).batch(),
    ];
    let got = engine.forward(&batch, &terms).unwrap();
    let want = Engine::cpu().forward(&batch, &terms).unwrap();
    let mut failures = Vec::new();
    for (k, (g, w)) in got.stats.iter().zip(&want.stats).enumerate() {
        for (name, a, b) in [
            ("Σp", g.sp, w.sp),
            ("Σpt", g.tp, w.tp),
            ("Σp²", g.spp, w.spp),
            ("Σ|p−t|", g.sad, w.sad),
            ("Σ−ln p_k", g.bce, w.bce),
            ("Σ−ln p", g.wce, w.wce),
        ] {
            let rel = (a - b).abs() / b.abs();
            if rel.is_nan() || rel > REL {
                failures.push(format!("class {k} {name}: rel {rel:.2e}"));
            }
        }
        let counts = |s: &Stats| (s.count, s.hard_tp, s.hard_fp, s.hard_fn);
        assert_eq!(counts(g), counts(w), "{name}: class {k}");
    }
    for ((term, a), b) in terms.iter().zip(&got.values).zip(&want.values) {
        let rel = (a - b).abs() / b.abs();
        eprintln!("multiclass, {name}, {}: GPU {a} reference {b} rel {rel:.2e}", term.label());
        if rel.is_nan() || rel > REL {
            failures.push(format!("{}: rel {rel:.2e}", term.label()));
        }
    }
    assert!(failures.is_empty(), "multiclass, {name}: beyond {REL:e} relative of the f64 reference: {failures:?}");
}
