//! Shared test helpers: seeded generators, the GPU engine (which fails loudly without an
//! adapter: CI must not skip GPU tests), the request catalogue and tolerance checks.
#![allow(dead_code)]

use segloss::*;

/// SplitMix64: small, seeded, reproducible.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.uniform().max(1e-300);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

/// The kinds of target masks every comparison runs on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mask {
    /// Hard 0/1 blobs.
    Hard,
    /// Soft targets in [0, 1].
    Soft,
    /// All zeros.
    Empty,
    /// All ones.
    Full,
}

/// Logits correlated with the mask (like a half-trained model) plus noise, scaled by `scale`.
pub fn make_case(rng: &mut Rng, n: usize, h: usize, w: usize, mask: Mask, scale: f64) -> (Vec<f32>, Vec<f32>) {
    let mut x = Vec::with_capacity(n * h * w);
    let mut t = Vec::with_capacity(n * h * w);
    for _ in 0..n {
        let (cy, cx) = (rng.uniform() * h as f64, rng.uniform() * w as f64);
        let r = (0.15 + 0.25 * rng.uniform()) * h.max(w) as f64;
        for i in 0..h {
            for j in 0..w {
                let inside = ((i as f64 - cy).powi(2) + (j as f64 - cx).powi(2)).sqrt() < r;
                let tv: f32 = match mask {
                    Mask::Hard => inside as u8 as f32,
                    Mask::Soft => rng.uniform() as f32,
                    Mask::Empty => 0.0,
                    Mask::Full => 1.0,
                };
                let signal = if tv >= 0.5 { 1.0 } else { -1.0 };
                x.push((scale * (signal + 1.5 * rng.normal())) as f32);
                t.push(tv);
            }
        }
    }
    (x, t)
}

/// One GPU engine for every test of a test binary (pipelines compile once per process: on
/// llvmpipe without a warm shader cache each engine costs seconds).
pub fn shared_gpu() -> &'static Engine {
    static GPU: std::sync::OnceLock<Engine> = std::sync::OnceLock::new();
    GPU.get_or_init(gpu)
}

/// Held for the whole of each test that uses the shared engine: the tests of a binary take
/// turns, so each test's timing and GPU work stay its own.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// A GPU engine; panics (fails the test) when there is no adapter.
pub fn gpu() -> Engine {
    gpu_with(EngineOptions::default())
}

/// One GPU engine per sort strategy: both are tested on every backend, whichever the
/// adapter would choose. (A failing test's captured output names the strategy.)
pub fn sort_strategy_engines() -> Vec<(segloss::SortStrategy, Engine)> {
    [segloss::SortStrategy::Blocks, segloss::SortStrategy::Lanes]
        .into_iter()
        .map(|sort| (sort, gpu_with(EngineOptions { sort, ..Default::default() })))
        .collect()
}

/// One GPU engine per multiclass forward strategy (`ClassStrategy`) with `options`: both are
/// tested on every backend, whichever the adapter would choose.
pub fn class_strategy_engines(options: EngineOptions) -> Vec<(segloss::ClassStrategy, Engine)> {
    [segloss::ClassStrategy::Fused, segloss::ClassStrategy::Planes]
        .into_iter()
        .map(|classes| {
            let engine = gpu_with(EngineOptions { classes, ..options.clone() });
            assert_eq!(engine.info().classes, classes);
            (classes, engine)
        })
        .collect()
}

pub fn gpu_with(options: EngineOptions) -> Engine {
    match Engine::with_options(options) {
        Ok(e) => e,
        Err(e) => panic!("GPU tests need a working GPU engine (an adapter: lavapipe or llvmpipe in CI): {e}"),
    }
}

/// Requests covering every loss, parameter set and aggregation. Each inner Vec is one call:
/// its terms agree on the per-pixel parameters (a call evaluates one set of them).
pub fn requests() -> Vec<Vec<Term>> {
    let both = |l: Loss| [l.batch(), l.per_image()];
    let mut a = Vec::new();
    for l in [
        Loss::Dice(Dice::default()),
        Loss::Dice(Dice { smooth_nr: 0.0, smooth_dr: 1e-5, ..Dice::default() }),
        Loss::Dice(Dice { squared: true, ..Dice::default() }),
        Loss::Dice(Dice { log_loss: true, ..Dice::default().smooth(0.0) }),
        Loss::Dice(Dice { tp_form: TpForm::SoftL1, eps: 1e-3, ..Dice::default() }),
        Loss::Iou(Iou::default()),
        Loss::Iou(Iou { smooth: 0.0, eps: 1e-7 }),
        Loss::Tversky(Tversky::default()),
        Loss::Tversky(Tversky { alpha: 0.3, beta: 0.7, smooth: 1e-3, gamma: 0.75, ..Tversky::default() }),
        Loss::Tversky(Tversky { alpha: 0.7, beta: 0.3, gamma: 2.0, ..Tversky::default() }),
        Loss::Bce(Bce::default()),
        Loss::Bce(Bce { reduction: Reduction::Sum, ..Bce::default() }),
        Loss::BceDice(BceDice::default()),
        Loss::Focal(Focal::default()),
        Loss::Focal(Focal { reduction: Reduction::Sum, ..Focal::default() }),
        Loss::Combo(Combo::default()),
        Loss::Mcc(Mcc::default()),
        Loss::Mcc(Mcc::smp(1e-5)),
        Loss::Mcc(Mcc { eps: 0.25, smooth_nr: 0.5, smooth_dr: 2.0, perfect_is_zero: false }),
    ] {
        a.extend(both(l));
    }
    let mut b = Vec::new();
    let bce = Bce { pos_weight: 2.5, label_smoothing: 0.1, reduction: Reduction::Mean };
    for l in [
        Loss::Bce(bce),
        Loss::BceDice(BceDice { bce, dice: Dice::default().smooth(0.5), weight_bce: 0.3, weight_dice: 0.7 }),
        Loss::Focal(Focal { alpha: None, gamma: 0.5, reduction: Reduction::Mean, ..Focal::default() }),
        Loss::Combo(Combo { ce_ratio: 0.3, beta: 0.7, smooth: 0.0, eps: 1e-6 }),
    ] {
        b.extend(both(l));
    }
    let c: Vec<Term> =
        both(Loss::Focal(Focal { alpha: Some(0.25), gamma: 1.5, reduction: Reduction::Mean, ..Focal::default() }))
            .to_vec();
    let d: Vec<Term> =
        both(Loss::Focal(Focal { alpha: Some(0.5), gamma: 0.0, reduction: Reduction::Sum, ..Focal::default() }))
            .to_vec();
    // The peers' forms: focal factors for soft targets and the Tversky options of smp, MONAI
    // and kornia (one focal form per call).
    let tv = |t: Tversky| Loss::Tversky(t);
    let e: Vec<Term> = [
        Loss::Focal(Focal { alpha: Some(0.25), gamma: 2.0, form: FocalForm::ExpBce, ..Focal::default() }),
        tv(Tversky { smooth: 0.5, log_loss: true, ..Tversky::default() }),
        tv(Tversky { smooth: 0.5, tp_form: TpForm::SoftL1, ..Tversky::default() }),
        // L1 TP with log loss: near-zero scores on empty masks (the `smin` coefficient).
        Loss::Dice(Dice { tp_form: TpForm::SoftL1, log_loss: true, ..Dice::default().smooth(1e-3) }),
        tv(Tversky { smooth: 1e-3, tp_form: TpForm::SoftL1, log_loss: true, ..Tversky::default() }),
        tv(Tversky { alpha: 1.0, beta: 1.0, smooth: 0.0, smooth_dr: Some(1e-3), squared: true, ..Tversky::default() }),
    ]
    .into_iter()
    .flat_map(both)
    .collect();
    let f: Vec<Term> = [
        Loss::Focal(Focal { alpha: None, gamma: 1.5, form: FocalForm::LogSigmoid, ..Focal::default() }),
        tv(Tversky { alpha: 0.3, beta: 0.7, gamma: 1.5, tp_form: TpForm::SoftL1, ..Tversky::default() }),
    ]
    .into_iter()
    .flat_map(both)
    .collect();
    let g: Vec<Term> =
        both(Loss::Focal(Focal { alpha: Some(0.75), gamma: 3.0, form: FocalForm::PerTerm, ..Focal::default() }))
            .to_vec();
    vec![a, b, c, d, e, f, g]
}

/// |got − want| ≤ rel·|want| + abs.
pub fn close(got: f64, want: f64, rel: f64, abs: f64) -> bool {
    (got - want).abs() <= rel * want.abs() + abs
}

/// Asserts each value of `got` matches `want` within 1e-5 relative + 1e-7 absolute.
pub fn assert_values(what: &str, got: &Forward, want: &Forward) {
    for ((term, g), w) in got.terms.iter().zip(&got.values).zip(&want.values) {
        assert!(g.is_finite(), "{what}: {} is not finite: {g}", term.label());
        assert!(
            close(*g, *w, 1e-5, 1e-7),
            "{what}: {} GPU {g} vs reference {w} (rel {:e})",
            term.label(),
            (g - w).abs() / w.abs()
        );
    }
    assert_eq!(got.metrics, want.metrics, "{what}: metrics differ");
    for (i, (g, w)) in got.stats.iter().zip(&want.stats).enumerate() {
        assert_eq!(
            (g.count, g.hard_tp, g.hard_fp, g.hard_fn),
            (w.count, w.hard_tp, w.hard_fp, w.hard_fn),
            "{what}: image {i} counts"
        );
    }
}

/// ‖g − r‖₂ ≤ rel·‖r‖₂ + abs.
pub fn assert_grad(what: &str, got: &[f32], want: &[f64], rel: f64, abs: f64) {
    assert_eq!(got.len(), want.len());
    let (mut d2, mut r2) = (0.0f64, 0.0f64);
    for (&g, &r) in got.iter().zip(want) {
        assert!(g.is_finite(), "{what}: non-finite gradient {g}");
        d2 += (g as f64 - r).powi(2);
        r2 += r * r;
    }
    let (d, r) = (d2.sqrt(), r2.sqrt());
    assert!(d <= rel * r + abs, "{what}: gradient error {d:e} vs norm {r:e} (rel {:e})", d / r.max(1e-300));
}
