//! Lovasz hinge and Lovasz softmax: GPU against the float64 reference (values 1e-5,
//! gradients 1e-6 relative L2 on inputs free of near-ties), finite differences of the
//! reference, edge cases, NaN → Err before sorting, mixing with sum-based losses, memory.
mod common;
use common::*;
use segloss::*;

fn hinge_terms() -> Vec<Term> {
    vec![Loss::LovaszHinge(LovaszHinge).per_image(), Loss::LovaszHinge(LovaszHinge).batch()]
}

/// Logits with pairwise distinct |x| on a 2^-10 grid: every hinge error 1 ∓ x is exact in
/// f32 and distinct, so f32 and f64 sort identically (no near-ties).
fn tie_free_logits(rng: &mut Rng, n: usize) -> Vec<f32> {
    let mut mags: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        mags.swap(i, rng.next_u64() as usize % (i + 1));
    }
    mags.iter().map(|&m| ((m as f32 + 0.5) / 1024.0) * if rng.uniform() < 0.5 { -1.0 } else { 1.0 }).collect()
}

fn compare_hinge(gpu: &Engine, what: &str, batch: &BinaryBatch, terms: &[Term]) {
    let got = gpu.value_and_grad(batch, terms).unwrap_or_else(|e| panic!("{what}: {e}"));
    let want = Engine::cpu().value_and_grad(batch, terms).unwrap();
    for ((t, g), w) in terms.iter().zip(&got.forward.values).zip(&want.forward.values) {
        assert!(g.is_finite(), "{what} {}: {g}", t.label());
        assert!(close(*g, *w, 1e-5, 1e-7), "{what} {}: GPU {g} vs reference {w}", t.label());
    }
    let w64: Vec<f64> = want.grad.iter().map(|&v| v as f64).collect();
    assert_grad(what, &got.grad, &w64, 1e-6, 1e-9);
}

#[test]
fn lovasz_hinge_matches_reference() {
    for (strategy, gpu) in sort_strategy_engines() {
        eprintln!("sort strategy {strategy:?}");
        let mut rng = Rng::new(0x1a5);
        for (n, c, h, w) in [(1, 1, 1, 1), (3, 1, 17, 19), (2, 1, 129, 131), (2, 3, 21, 23)] {
            let len = n * c * h * w;
            let x = tie_free_logits(&mut rng, len);
            let (_, mut t) = make_case(&mut rng, n * c, h, w, Mask::Hard, 1.0);
            for v in t.iter_mut().step_by(13) {
                *v = 255.0;
            }
            let batch = if c == 1 {
                BinaryBatch::new(&x, &t, &[n, h, w]).unwrap()
            } else {
                BinaryBatch::multilabel(&x, &t, &[n, c, h, w]).unwrap()
            };
            let batch = batch.ignore_value(255.0).unwrap();
            compare_hinge(&gpu, &format!("hinge {n}x{c}x{h}x{w}"), &batch, &hinge_terms());
        }
    }
}

#[test]
fn lovasz_hinge_edge_cases_are_defined() {
    for (strategy, gpu) in sort_strategy_engines() {
        eprintln!("sort strategy {strategy:?}");
        let mut rng = Rng::new(2);
        let (n, h, w) = (4, 9, 11);
        let hw = h * w;
        let x = tie_free_logits(&mut rng, n * hw);
        let mut t = vec![0f32; n * hw]; // image 0: no foreground
        t[hw..2 * hw].iter_mut().for_each(|v| *v = 1.0); // image 1: all foreground
        t[2 * hw..3 * hw].iter_mut().for_each(|v| *v = 255.0); // image 2: all ignored
        t[3 * hw + 5] = 1.0; // image 3: one foreground pixel
        let batch = BinaryBatch::new(&x, &t, &[n, h, w]).unwrap().ignore_value(255.0).unwrap();
        compare_hinge(&gpu, "edge cases", &batch, &hinge_terms());
        let one = BinaryBatch::new(&[0.25], &[1.0], &[1, 1, 1]).unwrap();
        let out = gpu.forward(&one, &hinge_terms()).unwrap();
        assert!((out.values[0] - 0.75).abs() < 1e-7, "1x1: relu(1 − 0.25)·1 = 0.75, got {}", out.values[0]);
        let ignored = BinaryBatch::new(&[0.25], &[255.0], &[1, 1, 1]).unwrap().ignore_value(255.0).unwrap();
        let out = gpu.value_and_grad(&ignored, &hinge_terms()).unwrap();
        assert_eq!(out.forward.values, vec![0.0, 0.0]);
        assert_eq!(out.grad, vec![0.0]);
    }
}

/// Classes where the f64 errors |fg − p_c| of every (image, class) are at least `gap` apart.
fn tie_free(logits: &[f32], map: &[u32], n: usize, c: usize, hw: usize, gap: f64) -> bool {
    for img in 0..n {
        for k in 0..c {
            let mut e: Vec<f64> = (0..hw)
                .map(|i| {
                    let x: Vec<f64> = (0..c).map(|q| logits[(img * c + q) * hw + i] as f64).collect();
                    let m = x.iter().cloned().fold(f64::MIN, f64::max);
                    let s: f64 = x.iter().map(|v| (v - m).exp()).sum();
                    let p = (x[k] - m).exp() / s;
                    ((map[img * hw + i] == k as u32) as u8 as f64 - p).abs()
                })
                .collect();
            e.sort_by(f64::total_cmp);
            if e.windows(2).any(|w| w[1] - w[0] < gap) {
                return false;
            }
        }
    }
    true
}

fn class_case(seed: u64, n: usize, c: usize, h: usize, w: usize) -> (Vec<f32>, Vec<u32>) {
    let mut rng = Rng::new(seed);
    let hw = h * w;
    let map: Vec<u32> = (0..n * hw).map(|_| (rng.next_u64() % c as u64) as u32).collect();
    let logits = (0..n * c * hw)
        .map(|j| {
            let (img, k, i) = (j / (c * hw), j / hw % c, j % hw);
            let boost = if map[img * hw + i] == k as u32 { 1.5 } else { 0.0 };
            (boost + rng.normal()) as f32
        })
        .collect();
    (logits, map)
}

fn softmax_terms(c: usize) -> Vec<Term> {
    let l = Loss::LovaszSoftmax(LovaszSoftmax::default());
    let all = Loss::LovaszSoftmax(LovaszSoftmax { present_only: false });
    let weights = ClassOptions { weights: Some((0..c).map(|k| 1.0 + k as f64).collect()), ..Default::default() };
    let subset = ClassOptions { selection: ClassSelection::Only(vec![0, c - 1]), ..Default::default() };
    vec![
        l.per_image(),
        l.batch(),
        all.per_image(),
        all.batch().with_classes(weights),
        l.per_image().with_classes(subset),
    ]
}

#[test]
fn lovasz_softmax_matches_reference_on_tie_free_inputs() {
    for (strategy, gpu) in sort_strategy_engines() {
        eprintln!("sort strategy {strategy:?}");
        let (n, c, h, w) = (3, 4, 7, 9);
        let seed = (1..200u64)
            .find(|&s| {
                let (x, m) = class_case(s, n, c, h, w);
                tie_free(&x, &m, n, c, h * w, 1e-5)
            })
            .expect("a tie-free seed");
        let (logits, mut map) = class_case(seed, n, c, h, w);
        map[5] = 99; // ignored
        let batch = MulticlassBatch::new(&logits, ClassMap::U32(&map), &[n, c, h, w]).unwrap().ignore_index(99);
        let terms = softmax_terms(c);
        let got = gpu.value_and_grad(&batch, &terms).unwrap();
        let want = Engine::cpu().value_and_grad(&batch, &terms).unwrap();
        for ((t, g), wv) in terms.iter().zip(&got.forward.values).zip(&want.forward.values) {
            assert!(close(*g, *wv, 1e-5, 1e-7), "{} {:?}: GPU {g} vs reference {wv}", t.label(), t.classes);
        }
        let w64: Vec<f64> = want.grad.iter().map(|&v| v as f64).collect();
        assert_grad("lovasz softmax", &got.grad, &w64, 1e-6, 1e-9);
        assert!(got.grad.iter().any(|&g| g != 0.0));
    }
}

#[test]
fn lovasz_softmax_values_match_at_larger_sizes_and_split_images() {
    let gpu = gpu();
    let small = gpu_with(EngineOptions { max_storage_binding: Some(64 * 1024), ..Default::default() });
    for (n, c, h, w) in [(2, 19, 33, 35), (1, 3, 101, 103)] {
        let (logits, map) = class_case(7, n, c, h, w);
        let batch = MulticlassBatch::new(&logits, ClassMap::U32(&map), &[n, c, h, w]).unwrap();
        let terms = softmax_terms(c);
        let want = Engine::cpu().forward(&batch, &terms).unwrap();
        for engine in [&gpu, &small] {
            let got = engine.forward(&batch, &terms).unwrap();
            for ((t, g), wv) in terms.iter().zip(&got.values).zip(&want.values) {
                assert!(close(*g, *wv, 1e-5, 1e-7), "C={c} {}: GPU {g} vs reference {wv}", t.label());
            }
        }
    }
}

#[test]
fn lovasz_softmax_edge_cases_are_defined() {
    for (strategy, gpu) in sort_strategy_engines() {
        eprintln!("sort strategy {strategy:?}");
        let (n, c, h, w) = (3, 3, 5, 6);
        let hw = h * w;
        let (logits, _) = class_case(3, n, c, h, w);
        let mut map = vec![0u8; n * hw]; // image 0: only class 0 (others absent)
        map[hw..2 * hw].iter_mut().for_each(|v| *v = 255); // image 1: all ignored
        map[2 * hw..].iter_mut().enumerate().for_each(|(i, v)| *v = (i % 3) as u8);
        let batch = MulticlassBatch::new(&logits, ClassMap::U8(&map), &[n, c, h, w]).unwrap().ignore_index(255);
        for engine in [&gpu, &Engine::cpu()] {
            let out = engine.value_and_grad(&batch, &softmax_terms(c)).unwrap();
            assert!(out.forward.values.iter().all(|v| v.is_finite()), "{:?}", out.forward.values);
            assert!(out.grad.iter().all(|g| g.is_finite()));
            // Ignored image: zero gradient.
            assert!(out.grad[c * hw..2 * c * hw].iter().all(|&g| g == 0.0));
        }
        let one = MulticlassBatch::new(&[1.0, 0.0], ClassMap::U8(&[0]), &[1, 2, 1, 1]).unwrap();
        let v = gpu.forward(&one, &[Loss::LovaszSoftmax(LovaszSoftmax::default()).batch()]).unwrap().values[0];
        let p0 = 1.0 / (1.0 + (-1.0f64).exp());
        assert!((v - (1.0 - p0)).abs() < 1e-6, "1x1: only class 0 present, loss = |1 − p0| = {}, got {v}", 1.0 - p0);
    }
}

#[test]
fn reference_lovasz_gradients_match_finite_differences() {
    // Piecewise linear in the errors: a step that keeps the order gives the exact slope.
    let mut rng = Rng::new(8);
    let (n, h, w) = (2, 5, 7);
    let x = tie_free_logits(&mut rng, n * h * w);
    let (_, t) = make_case(&mut rng, n, h, w, Mask::Hard, 1.0);
    let terms = hinge_terms();
    let total =
        |xs: &[f32]| Engine::cpu().forward(&BinaryBatch::new(xs, &t, &[n, h, w]).unwrap(), &terms).unwrap().total();
    let g = Engine::cpu().value_and_grad(&BinaryBatch::new(&x, &t, &[n, h, w]).unwrap(), &terms).unwrap().grad;
    for i in 0..x.len() {
        let step = 1.0 / 8192.0; // below the 2^-10 spacing: no reordering
        let (mut xp, mut xm) = (x.clone(), x.clone());
        xp[i] += step;
        xm[i] -= step;
        let fd = (total(&xp) - total(&xm)) / (2.0 * step as f64);
        assert!((fd - g[i] as f64).abs() < 1e-6, "element {i}: analytic {} vs fd {fd}", g[i]);
    }
    let (c, h, w) = (3, 3, 4);
    let seed = (1..200u64).find(|&s| {
        let (lx, m) = class_case(s, 1, c, h, w);
        tie_free(&lx, &m, 1, c, h * w, 1e-3)
    });
    let (logits, map) = class_case(seed.unwrap(), 1, c, h, w);
    let terms = softmax_terms(c);
    let total = |xs: &[f32]| {
        let b = MulticlassBatch::new(xs, ClassMap::U32(&map), &[1, c, h, w]).unwrap();
        Engine::cpu().forward(&b, &terms).unwrap().total()
    };
    let b = MulticlassBatch::new(&logits, ClassMap::U32(&map), &[1, c, h, w]).unwrap();
    let g = Engine::cpu().value_and_grad(&b, &terms).unwrap().grad;
    for i in 0..logits.len() {
        let step = 1e-4f32;
        let (mut xp, mut xm) = (logits.clone(), logits.clone());
        xp[i] += step;
        xm[i] -= step;
        let fd = (total(&xp) - total(&xm)) / ((xp[i] - xm[i]) as f64);
        assert!((fd - g[i] as f64).abs() < 1e-3 * (1.0 + fd.abs()), "softmax element {i}: {} vs fd {fd}", g[i]);
    }
}

#[test]
fn nan_logits_are_an_error_before_sorting() {
    let gpu = gpu();
    let mut x = vec![0.5f32; 2 * 4 * 4];
    x[21] = f32::NAN;
    let t = vec![1.0f32; 32];
    let batch = BinaryBatch::new(&x, &t, &[2, 4, 4]).unwrap();
    for engine in [&gpu, &Engine::cpu()] {
        let e = engine.forward(&batch, &[Loss::LovaszHinge(LovaszHinge).batch()]).unwrap_err();
        assert!(matches!(e, Error::NonFinite { index: 21, image: 1, pixel: 5, .. }), "{e}");
    }
    let mut logits = vec![0.1f32; 2 * 3 * 4];
    logits[(3 + 1) * 4 + 2] = f32::INFINITY; // image 1, class 1, pixel 2
    let b = MulticlassBatch::new(&logits, ClassMap::U8(&[0u8; 8]), &[2, 3, 2, 2]).unwrap();
    for engine in [&gpu, &Engine::cpu()] {
        let e = engine.forward(&b, &[Loss::LovaszSoftmax(LovaszSoftmax::default()).batch()]).unwrap_err();
        assert!(matches!(e, Error::NonFinite { image: 1, channel: 1, pixel: 2, .. }), "{e}");
    }
    let probs = BinaryBatch::new(&[0.5], &[1.0], &[1, 1, 1]).unwrap().probabilities();
    assert!(gpu.forward(&probs, &[Loss::LovaszHinge(LovaszHinge).batch()]).is_err());
    let e = Engine::cpu().forward(&b, &[Loss::LovaszHinge(LovaszHinge).batch()]).unwrap_err();
    assert!(matches!(e, Error::InvalidRequest(_)), "{e}");
}

#[test]
fn lovasz_with_sum_based_losses_keeps_one_fused_pass() {
    let gpu = gpu();
    let mut rng = Rng::new(12);
    let (n, h, w) = (2, 31, 33);
    let x = tie_free_logits(&mut rng, n * h * w);
    let (_, t) = make_case(&mut rng, n, h, w, Mask::Hard, 1.0);
    let batch = BinaryBatch::new(&x, &t, &[n, h, w]).unwrap();
    let mut terms = requests()[0].clone();
    terms.extend(hinge_terms());
    let mixed = gpu.value_and_grad(&batch, &terms).unwrap();
    assert_eq!(mixed.forward.dispatches, DispatchCount { forward_passes: 1, backward_passes: 1 });
    let sums = gpu.value_and_grad(&batch, &requests()[0]).unwrap();
    let lovasz = gpu.value_and_grad(&batch, &hinge_terms()).unwrap();
    let k = requests()[0].len();
    assert_eq!(&mixed.forward.values[..k], &sums.forward.values[..]);
    assert_eq!(&mixed.forward.values[k..], &lovasz.forward.values[..]);
    let summed: Vec<f64> = sums.grad.iter().zip(&lovasz.grad).map(|(a, b)| (a + b) as f64).collect();
    assert_grad("mixed", &mixed.grad, &summed, 1e-6, 1e-12);
}

#[test]
fn lovasz_softmax_memory_stays_within_four_times_the_input() {
    // Scratch is O(pixels); the input and the gradient are N×C×H×W. For 19 classes the
    // buffers of a forward+backward call stay under 4× the logits' bytes.
    let gpu = gpu();
    let (n, c, h, w) = (2, 19, 64, 96);
    let (logits, map) = class_case(5, n, c, h, w);
    let map8: Vec<u8> = map.iter().map(|&k| k as u8).collect();
    let batch = MulticlassBatch::new(&logits, ClassMap::U8(&map8), &[n, c, h, w]).unwrap();
    let before = gpu.bytes_allocated();
    gpu.value_and_grad(&batch, &[Loss::LovaszSoftmax(LovaszSoftmax::default()).per_image()]).unwrap();
    let used = gpu.bytes_allocated() - before;
    let input = (logits.len() * 4) as u64;
    eprintln!(
        "Lovasz softmax {n}x{c}x{h}x{w}: {used} bytes of buffers for {input} bytes of logits ({:.2}x)",
        used as f64 / input as f64
    );
    assert!(used <= 4 * input, "{used} > 4 × {input}");
}

#[test]
fn kornia_test_suite_values() {
    // kornia tests/losses/test_lovaz_{softmax,hinge}.py (see shared peer_test_values.json):
    // kornia's Lovasz softmax uses every class, per image, weights averaged over C.
    let gpu = gpu();
    let kornia = |weights: Option<Vec<f64>>| {
        Loss::LovaszSoftmax(LovaszSoftmax { present_only: false }).per_image().with_classes(ClassOptions {
            weights,
            normalize_weights: false,
            ..Default::default()
        })
    };
    let ones = [1u8; 4];
    // pred (2,2,1,2): channel 1 = 100, channel 0 = 0, target all ones → 0 (class 0's term ~e^-100).
    let mut pred = vec![0f32; 8];
    for img in 0..2 {
        pred[img * 4 + 2..img * 4 + 4].copy_from_slice(&[100.0, 100.0]);
    }
    let b = MulticlassBatch::new(&pred, ClassMap::U8(&ones), &[2, 2, 1, 2]).unwrap();
    for engine in [&gpu, &Engine::cpu()] {
        assert!(engine.forward(&b, &[kornia(None)]).unwrap().values[0].abs() < 1e-3);
    }
    // channel 0 = 100, weight [1, 0] → 0.5.
    let mut pred = vec![0f32; 8];
    for img in 0..2 {
        pred[img * 4..img * 4 + 2].copy_from_slice(&[100.0, 100.0]);
    }
    let b = MulticlassBatch::new(&pred, ClassMap::U8(&ones), &[2, 2, 1, 2]).unwrap();
    for engine in [&gpu, &Engine::cpu()] {
        let v = engine.forward(&b, &[kornia(Some(vec![1.0, 0.0]))]).unwrap().values[0];
        assert!((v - 0.5).abs() < 1e-3, "{v}");
    }
    // Lovasz hinge, perfect prediction: pred ones (2,1,1,2), target ones → 0.
    let b = BinaryBatch::new(&[1.0; 4], &[1.0; 4], &[2, 1, 1, 2]).unwrap();
    for engine in [&gpu, &Engine::cpu()] {
        assert_eq!(engine.forward(&b, &[Loss::LovaszHinge(LovaszHinge).per_image()]).unwrap().values[0], 0.0);
    }
}

#[test]
fn lovasz_per_image_handles_more_than_65535_images() {
    // One workgroup row per image would exceed a dispatch dimension: segments fold into two.
    let gpu = gpu();
    let n = 70_001;
    let mut rng = Rng::new(65536);
    let x = tie_free_logits(&mut rng, 2 * n);
    let t: Vec<f32> = (0..2 * n).map(|i| (i % 3 == 0) as u8 as f32).collect();
    let batch = BinaryBatch::new(&x, &t, &[n, 1, 2]).unwrap();
    let terms = [Loss::LovaszHinge(LovaszHinge).per_image()];
    let got = gpu.forward(&batch, &terms).unwrap().values[0];
    let want = Engine::cpu().forward(&batch, &terms).unwrap().values[0];
    assert!(close(got, want, 1e-5, 1e-7), "{got} vs {want}");
}

/// Only pixels with a positive hinge error are sorted: none, one, or all but one of them
/// (confident, correct logits have error 1 − |x| < 0), per image and over the batch, under
/// both sort strategies — the values and gradients equal the reference's.
#[test]
fn lovasz_hinge_sorts_only_positive_errors() {
    let (n, h, w) = (3, 13, 17);
    let hw = h * w;
    let mut rng = Rng::new(0x50e7);
    let t: Vec<f32> = (0..n * hw).map(|_| (rng.next_u64() % 3 == 0) as u8 as f32).collect();
    // Every pixel confidently right: error −2.
    let confident: Vec<f32> = t.iter().map(|&v| if v > 0.5 { 3.0 } else { -3.0 }).collect();
    let mut one = confident.clone();
    one[hw + 7] = -one[hw + 7]; // image 1: one pixel wrong (error 4)
    let mut most = tie_free_logits(&mut rng, n * hw);
    most[2 * hw + 3] = if t[2 * hw + 3] > 0.5 { 5.0 } else { -5.0 }; // one pixel with error < 0
    for terms in [hinge_terms(), vec![Loss::LovaszHinge(LovaszHinge).per_image()]] {
        for (what, x) in [("none kept", &confident), ("one kept", &one), ("all but one kept", &most)] {
            let batch = BinaryBatch::new(x, &t, &[n, h, w]).unwrap();
            let want = Engine::cpu().value_and_grad(&batch, &terms).unwrap();
            if what == "none kept" {
                assert!(want.forward.values.iter().all(|&v| v == 0.0) && want.grad.iter().all(|&g| g == 0.0));
            }
            for (strategy, gpu) in sort_strategy_engines() {
                let got = gpu.value_and_grad(&batch, &terms).unwrap();
                for (g, wv) in got.forward.values.iter().zip(&want.forward.values) {
                    assert!(close(*g, *wv, 1e-5, 1e-9), "{what} {strategy:?}: GPU {g} vs reference {wv}");
                }
                let w64: Vec<f64> = want.grad.iter().map(|&v| v as f64).collect();
                assert_grad(&format!("{what} {strategy:?}"), &got.grad, &w64, 1e-5, 1e-9);
            }
        }
    }
}
