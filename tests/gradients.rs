//! Gradients: the f64 reference against central finite differences (in f64) for every
//! loss × parameter set × aggregation; GPU against the reference at every size; finite
//! gradients at extreme logits; shards merged through Stats; determinism.
mod common;
use common::*;
use segloss::reference::pixel::{pixel_grad, pixel_sums};

/// Binary-mode evaluation of `terms` over per-image rows.
fn evaluate(terms: &[Term], rows: &[Stats]) -> (Vec<f64>, Vec<Coefficients>) {
    segloss::evaluate(terms, rows, &Layout::binary(rows.len()))
}
use segloss::*;

/// Σ weight·loss of f64 inputs through the reference's per-pixel sums.
fn total_f64(x: &[f64], t: &[f64], hw: usize, kind: InputKind, terms: &[Term], pp: &PixelParams, ignore: f64) -> f64 {
    let mut images = vec![Stats::default(); x.len() / hw];
    for (i, (&xi, &ti)) in x.iter().zip(t).enumerate() {
        if ti != ignore {
            pixel_sums(&mut images[i / hw], xi, ti, kind, pp);
        }
    }
    let (values, _) = evaluate(terms, &images);
    terms.iter().zip(values).map(|(term, v)| term.weight * v).sum()
}

fn check_finite_differences(terms: &[Term], kind: InputKind, mask: Mask, seed: u64) {
    let (n, h, w) = (3, 3, 4);
    let hw = h * w;
    let mut rng = Rng::new(seed);
    let (x32, t32) = make_case(&mut rng, n, h, w, mask, 1.5);
    let mut x: Vec<f64> = x32.iter().map(|&v| v as f64).collect();
    let mut t: Vec<f64> = t32.iter().map(|&v| v as f64).collect();
    if kind == InputKind::Probabilities {
        x = x.iter().map(|v| 0.02 + 0.96 / (1.0 + (-v).exp())).collect();
    }
    let ignore = -1.0;
    t[4] = ignore; // one ignored pixel
    let pp = PixelParams::from_terms(terms).unwrap();
    let mut images = vec![Stats::default(); n];
    for (i, (&xi, &ti)) in x.iter().zip(&t).enumerate() {
        if ti != ignore {
            pixel_sums(&mut images[i / hw], xi, ti, kind, &pp);
        }
    }
    let (_, coefs) = evaluate(terms, &images);
    let (mut d2, mut g2) = (0.0f64, 0.0f64);
    for i in 0..x.len() {
        let analytic = if t[i] == ignore { 0.0 } else { pixel_grad(x[i], t[i], kind, &pp, &coefs[i / hw]) };
        let step = 1e-6 * x[i].abs().max(if kind == InputKind::Probabilities { 0.01 } else { 1.0 });
        let mut xp = x.clone();
        xp[i] += step;
        let mut xm = x.clone();
        xm[i] -= step;
        let fd = (total_f64(&xp, &t, hw, kind, terms, &pp, ignore) - total_f64(&xm, &t, hw, kind, terms, &pp, ignore))
            / (2.0 * step);
        if t[i] == ignore {
            assert_eq!(fd, 0.0, "ignored pixel moves the loss");
        }
        d2 += (analytic - fd).powi(2);
        g2 += fd * fd;
    }
    let (d, g) = (d2.sqrt(), g2.sqrt());
    let labels: Vec<_> = terms.iter().map(Term::label).collect();
    assert!(
        g > 1e-6,
        "{labels:?} {kind:?} {mask:?}: the finite-difference gradient vanishes ({g:e}): test input is degenerate"
    );
    assert!(d <= 1e-6 * g + 1e-12, "{labels:?} {kind:?} {mask:?}: |analytic − fd| = {d:e}, |fd| = {g:e}");
}

#[test]
fn reference_gradients_match_finite_differences() {
    let mut seed = 100;
    for req in requests() {
        for term in &req {
            for kind in [InputKind::Logits, InputKind::Probabilities] {
                for mask in [Mask::Hard, Mask::Soft] {
                    seed += 1;
                    check_finite_differences(std::slice::from_ref(term), kind, mask, seed);
                }
            }
        }
        // The weighted sum of a whole request: one coefficient set, one backward pass.
        let weighted: Vec<Term> =
            req.iter().enumerate().map(|(i, t)| t.clone().weighted(0.5 + 0.1 * i as f64)).collect();
        check_finite_differences(&weighted, InputKind::Logits, Mask::Soft, seed);
    }
}

/// The GPU gradient against the f64 reference gradient for the same batch and terms.
fn compare_grad(gpu: &Engine, what: &str, batch: &BinaryBatch, terms: &[Term]) {
    let got = gpu.value_and_grad(batch, terms).unwrap_or_else(|e| panic!("{what}: {e}"));
    let pp = PixelParams::from_terms(terms).unwrap();
    let stats = segloss::reference::stats_pass(batch, &pp).unwrap();
    let (values, coefs) = evaluate(terms, &stats);
    let want = segloss::reference::grad_pass(batch, &pp, &coefs);
    assert_grad(what, &got.grad, &want, 1e-5, 1e-8);
    for (g, w) in got.forward.values.iter().zip(&values) {
        assert!(close(*g, *w, 1e-5, 1e-7), "{what}: value {g} vs {w}");
    }
    if let Some(ig) = batch.ignore {
        for (g, t) in got.grad.iter().zip(batch.target) {
            if *t == ig {
                assert_eq!(g.to_bits(), 0, "{what}: ignored pixel has gradient {g}");
            }
        }
    }
}

#[test]
fn gpu_gradients_match_reference_at_every_size() {
    let gpu = gpu();
    let mut rng = Rng::new(0xd1ce);
    for (n, h, w) in [(1, 1, 1), (1, 3, 5), (2, 257, 263), (4, 512, 512)] {
        for mask in [Mask::Hard, Mask::Soft, Mask::Empty, Mask::Full] {
            let (x, mut t) = make_case(&mut rng, n, h, w, mask, 2.0);
            for v in t.iter_mut().step_by(11) {
                *v = 255.0;
            }
            let batch = BinaryBatch::new(&x, &t, &[n, h, w]).unwrap().ignore_value(255.0).unwrap();
            for (k, req) in requests().iter().enumerate() {
                let what = format!("{n}x{h}x{w} {mask:?} request {k}");
                compare_grad(&gpu, &what, &batch, req);
                if n * h * w < 100_000 {
                    for term in req {
                        compare_grad(&gpu, &format!("{what} {}", term.label()), &batch, std::slice::from_ref(term));
                    }
                }
            }
        }
    }
}

#[test]
fn gpu_gradient_matches_reference_at_sixteen_million_pixels() {
    let gpu = gpu();
    let mut rng = Rng::new(1 << 24);
    let (n, h, w) = (1, 4099, 4097);
    let (x, t) = make_case(&mut rng, n, h, w, Mask::Hard, 2.0);
    let batch = BinaryBatch::new(&x, &t, &[n, h, w]).unwrap();
    compare_grad(&gpu, "16M", &batch, &requests()[1]);
}

#[test]
fn extreme_logits_and_small_gamma_give_finite_gradients() {
    let gpu = gpu();
    let mut rng = Rng::new(3);
    let (n, h, w) = (2, 9, 11);
    let (x0, t) = make_case(&mut rng, n, h, w, Mask::Hard, 1.0);
    // Confident and right, confident and wrong, at ±80.
    let x: Vec<f32> = x0
        .iter()
        .zip(&t)
        .enumerate()
        .map(|(i, (_, &t))| {
            let right = if t >= 0.5 { 80.0 } else { -80.0 };
            if i % 5 == 0 {
                -right
            } else {
                right
            }
        })
        .collect();
    let batch = BinaryBatch::new(&x, &t, &[n, h, w]).unwrap();
    let focal = Loss::Focal(Focal { alpha: Some(0.25), gamma: 0.5, reduction: Reduction::Mean, ..Focal::default() });
    for engine in [&gpu, &Engine::cpu()] {
        for req in requests().into_iter().chain([vec![focal.batch(), focal.per_image()]]) {
            let out = engine.value_and_grad(&batch, &req).unwrap();
            assert!(out.grad.iter().all(|g| g.is_finite()), "{:?}: non-finite gradient", engine.info().backend);
            assert!(out.forward.values.iter().all(|v| v.is_finite()));
        }
    }
    compare_grad(&gpu, "±80 focal γ=0.5", &batch, &[focal.batch(), focal.per_image()]);
}

#[test]
fn shards_with_merged_stats_equal_the_whole_batch() {
    let gpu = gpu();
    let mut rng = Rng::new(33);
    let (n, h, w) = (6, 31, 29);
    let hw = h * w;
    let (x, t) = make_case(&mut rng, n, h, w, Mask::Soft, 2.0);
    for engine in [&gpu, &Engine::cpu()] {
        for req in requests() {
            let whole = engine.value_and_grad(&BinaryBatch::new(&x, &t, &[n, h, w]).unwrap(), &req).unwrap();
            // Three workers with 1, 2 and 3 images; each computes its stats…
            let bounds = [(0, 1), (1, 3), (3, 6)];
            let shard =
                |a: usize, b: usize| BinaryBatch::new(&x[a * hw..b * hw], &t[a * hw..b * hw], &[b - a, h, w]).unwrap();
            let mut global = Vec::new();
            for &(a, b) in &bounds {
                global.extend(engine.forward(&shard(a, b), &req).unwrap().stats);
            }
            // …the trainer all-gathers them, and every worker runs its backward with them.
            let (values, _) = evaluate(&req, &global);
            for (v, wv) in values.iter().zip(&whole.forward.values) {
                assert!(close(*v, *wv, 1e-6, 1e-9), "sharded value {v} vs whole {wv}");
            }
            let mut grad = Vec::new();
            for &(a, b) in &bounds {
                grad.extend(engine.backward_with_stats(&shard(a, b), &req, &global, a).unwrap());
            }
            let whole64: Vec<f64> = whole.grad.iter().map(|&g| g as f64).collect();
            assert_grad("shards", &grad, &whole64, 1e-6, 1e-12);
        }
    }
}

#[test]
fn backward_with_stats_rejects_stats_that_do_not_fit() {
    let x = [0.5f32; 8];
    let t = [1.0f32; 8];
    let batch = BinaryBatch::new(&x, &t, &[2, 2, 2]).unwrap();
    let terms = [Loss::Dice(Dice::default()).per_image()];
    let global = vec![Stats::default(); 3];
    let err = Engine::cpu().backward_with_stats(&batch, &terms, &global, 2).unwrap_err();
    assert!(matches!(err, Error::StatsMismatch(_)), "{err}");
}

#[test]
fn five_gradient_runs_are_bit_identical() {
    let gpu = gpu();
    let mut rng = Rng::new(55);
    let (x, t) = make_case(&mut rng, 2, 257, 263, Mask::Soft, 2.0);
    let batch = BinaryBatch::new(&x, &t, &[2, 257, 263]).unwrap();
    let req = &requests()[0];
    let first = gpu.value_and_grad(&batch, req).unwrap();
    for _ in 0..4 {
        let again = gpu.value_and_grad(&batch, req).unwrap();
        assert!(again.grad.iter().zip(&first.grad).all(|(a, b)| a.to_bits() == b.to_bits()));
    }
}
