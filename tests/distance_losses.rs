//! The distance losses (`HausdorffDt`, `Boundary`): values worked out by hand, the reference's
//! gradient against central differences of its own f64 value (distance maps are constants, so
//! only pixels whose masks cannot flip under the step are compared), 2-D and 3-D, sigmoid,
//! probabilities and softmax; the GPU against the reference; and what they refuse. MONAI's own
//! numbers are the `monai_*DTLoss*` / `*BoundaryLoss*` fixtures (`tests/presets.rs`).
mod common;
use common::*;
use segloss::*;

#[test]
fn values_worked_out_by_hand() {
    let _serial = serial();
    // One row of five pixels, target 0 1 1 0 0, probabilities 0.5 0.9 0.8 0.2 0.1.
    // Boundary: inside, −(distance to the background − 1) = 0, 0; outside, the distance to
    // the target = 1, 1, 2: s = 1 0 0 1 2, mean p·s = (0.5 + 0.2 + 0.2)/5 = 0.18.
    // Hausdorff (α = 2): the prediction p > 0.5 is the target itself, both distance fields are
    // 1 1 1 1 2, w = 2·d² = 2 2 2 2 8, (p − t)² = .25 .01 .04 .04 .01: mean 0.76/5 = 0.152;
    // α = 1: w = 2 2 2 2 4, mean 0.72/5 = 0.144; log: ln(1.152).
    let p = [0.5f32, 0.9, 0.8, 0.2, 0.1];
    let t = [0.0f32, 1.0, 1.0, 0.0, 0.0];
    let b = BinaryBatch::new(&p, &t, &[1, 1, 1, 5]).unwrap().probabilities();
    for engine in [&Engine::cpu(), shared_gpu()] {
        let terms = [
            Loss::Boundary(Boundary).per_image(),
            Loss::HausdorffDt(HausdorffDt::default()).per_image(),
            Loss::HausdorffDt(HausdorffDt { alpha: 1.0, log: false }).batch(),
            Loss::HausdorffDt(HausdorffDt { alpha: 2.0, log: true }).per_image(),
        ];
        let v = engine.forward(&b, &terms).unwrap().values;
        let want = [0.18, 0.152, 0.144, 1.152f64.ln()];
        for (got, want) in v.iter().zip(want) {
            assert!((got - want).abs() < 1e-7, "{v:?} vs {want}");
        }
    }
}

/// Reference value of one term as a function of the logits.
fn value(x: &[f32], t: &[f32], map: &[u8], dims: &[usize], term: &Term, softmax: bool) -> f64 {
    let cpu = Engine::cpu();
    let terms = std::slice::from_ref(term);
    let out = if softmax {
        cpu.forward(&MulticlassBatch::new(x, ClassMap::U8(map), dims).unwrap(), terms)
    } else {
        cpu.forward(&BinaryBatch::multilabel(x, t, dims).unwrap(), terms)
    };
    out.unwrap().values[0]
}

/// Central differences of the reference value against its gradient, on pixels whose masks
/// cannot flip under the step (every probability of the pixel at least 0.02 from 0.5).
fn check_fd(dims: &[usize], softmax: bool, term: Term, seed: u64) {
    let mut rng = Rng::new(seed);
    let (n, c) = (dims[0], dims[1]);
    let hw: usize = dims[2..].iter().product();
    let map: Vec<u8> = (0..n * hw).map(|j| ((j / 3 + j / hw) % c) as u8).collect();
    let t: Vec<f32> = (0..n * c * hw).map(|j| ((j / 4) % 3 == 0) as u8 as f32).collect();
    let x: Vec<f32> = (0..n * c * hw)
        .map(|j| {
            let on = if softmax { map[(j / (c * hw)) * hw + j % hw] as usize == (j / hw) % c } else { t[j] == 1.0 };
            (if on { 2.0 } else { -2.0 } + 1.5 * rng.normal()) as f32
        })
        .collect();
    let terms = std::slice::from_ref(&term);
    let grad = if softmax {
        Engine::cpu().value_and_grad(&MulticlassBatch::new(&x, ClassMap::U8(&map), dims).unwrap(), terms)
    } else {
        Engine::cpu().value_and_grad(&BinaryBatch::multilabel(&x, &t, dims).unwrap(), terms)
    }
    .unwrap()
    .grad;
    let prob = |x: &[f32], j: usize| -> Vec<f64> {
        let (i, q) = (j / (c * hw), j % hw);
        let l: Vec<f64> = (0..c).map(|k| x[(i * c + k) * hw + q] as f64).collect();
        if softmax {
            let m = l.iter().cloned().fold(f64::MIN, f64::max);
            let s: f64 = l.iter().map(|v| (v - m).exp()).sum();
            l.iter().map(|v| (v - m).exp() / s).collect()
        } else {
            vec![1.0 / (1.0 + (-(x[j] as f64)).exp())]
        }
    };
    let (mut d2, mut g2, mut used) = (0.0, 0.0, 0);
    for j in (0..x.len()).step_by(3) {
        if prob(&x, j).iter().any(|p| (p - 0.5).abs() < 0.02) {
            continue;
        }
        let h = 1.0 / 1024.0;
        let (mut xp, mut xm) = (x.clone(), x.clone());
        xp[j] += h;
        xm[j] -= h;
        let step = xp[j] as f64 - xm[j] as f64;
        let fd = (value(&xp, &t, &map, dims, &term, softmax) - value(&xm, &t, &map, dims, &term, softmax)) / step;
        d2 += (grad[j] as f64 - fd).powi(2);
        g2 += fd * fd;
        used += 1;
    }
    assert!(used > 20 && g2 > 0.0, "{} {dims:?}: {used} pixels", term.label());
    let rel = (d2 / g2).sqrt();
    assert!(rel < 1e-5, "{} {dims:?} softmax={softmax}: gradient vs central differences: rel L2 {rel:e}", term.label());
}

#[test]
fn reference_gradients_match_central_differences() {
    let mut seed = 0xd15;
    for dims in [vec![2, 1, 9, 11], vec![1, 2, 5, 6, 7]] {
        for term in [
            Loss::HausdorffDt(HausdorffDt::default()).per_image(),
            Loss::HausdorffDt(HausdorffDt { alpha: 1.5, log: true }).batch(),
            Loss::Boundary(Boundary).per_image(),
        ] {
            seed += 1;
            check_fd(&dims, false, term.clone(), seed);
        }
    }
    for dims in [vec![2, 3, 8, 9], vec![1, 3, 4, 5, 6]] {
        let nobg = ClassOptions { selection: ClassSelection::NoBackground, ..ClassOptions::default() };
        for term in [
            Loss::HausdorffDt(HausdorffDt::default()).per_image().with_classes(nobg.clone()),
            Loss::Boundary(Boundary).batch(),
        ] {
            seed += 1;
            check_fd(&dims, true, term, seed);
        }
    }
}

#[test]
fn volumes_on_the_gpu_match_the_reference() {
    let _serial = serial();
    let gpu = shared_gpu();
    let mut rng = Rng::new(0xb0d);
    let (n, c, d, h, w) = (2, 3, 9, 10, 11);
    let (x, t) = make_case(&mut rng, n * c, d * h, w, Mask::Hard, 2.0);
    let b = BinaryBatch::multilabel(&x, &t, &[n, c, d, h, w]).unwrap();
    let terms = [Loss::HausdorffDt(HausdorffDt::default()).per_image(), Loss::Boundary(Boundary).batch().weighted(0.5)];
    let want = Engine::cpu().value_and_grad(&b, &terms).unwrap();
    let got = gpu.value_and_grad(&b, &terms).unwrap();
    for (g, w) in got.forward.values.iter().zip(&want.forward.values) {
        assert!(close(*g, *w, 1e-9, 1e-12), "GPU {g} vs reference {w}");
    }
    let w64: Vec<f64> = want.grad.iter().map(|&v| v as f64).collect();
    assert_grad("distance losses on a volume", &got.grad, &w64, 1e-6, 1e-12);
}

#[test]
fn what_the_distance_losses_refuse() {
    let x = vec![0.5f32; 2 * 12];
    let t = vec![1.0f32; 2 * 12];
    let cpu = Engine::cpu();
    let hd = Loss::HausdorffDt(HausdorffDt::default());
    let err = |r: Result<Forward>| r.unwrap_err().to_string();
    // A 1-D signal: no distance transform.
    let e = err(cpu.forward(&BinaryBatch::multilabel(&x, &t, &[2, 1, 12]).unwrap(), &[hd.per_image()]));
    assert!(e.contains("2-D or 3-D") && e.contains("[12]"), "{e}");
    let e = err(cpu.forward(&BinaryBatch::new(&x[..12], &t[..12], &[1, 1, 1, 2, 2, 3]).unwrap(), &[hd.per_image()]));
    assert!(e.contains("2-D or 3-D"), "{e}");
    // An ignore value, class weights.
    let b = BinaryBatch::new(&x, &t, &[2, 1, 3, 4]).unwrap().ignore_value(255.0).unwrap();
    assert!(err(cpu.forward(&b, &[Loss::Boundary(Boundary).per_image()])).contains("ignore"));
    let weighted = ClassOptions { weights: Some(vec![1.0, 2.0]), ..ClassOptions::default() };
    let b = BinaryBatch::multilabel(&x, &t, &[1, 2, 3, 4]).unwrap();
    assert!(err(cpu.forward(&b, &[hd.per_image().with_classes(weighted)])).contains("class weights"));
    // α must be finite and ≥ 0.
    let bad = Loss::HausdorffDt(HausdorffDt { alpha: -1.0, log: false });
    assert!(err(cpu.forward(&BinaryBatch::new(&x, &t, &[2, 1, 3, 4]).unwrap(), &[bad.per_image()])).contains("alpha"));
}
