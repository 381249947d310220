//! Multiclass (softmax) and multilabel (sigmoid per channel): GPU against the float64
//! reference for C ∈ {2, 3, 19, 150} at odd sizes, with ignore pixels, absent classes and
//! class weights; finite differences through the softmax; the confusion matrix against a
//! plain count; bad input; one pass forward and one backward.
mod common;
use common::*;
use segloss::evaluate;
use segloss::reference::classes::{class_pixel_grad, class_pixel_sums};
use segloss::*;

const IGNORE: u32 = 255;

/// Logits [N, C, H, W] leaning towards the target class, and a class map in which only
/// every other class occurs (so odd classes are absent) and ~1/9 of the pixels are ignored.
fn make_classes(rng: &mut Rng, n: usize, c: usize, h: usize, w: usize, ignore: bool) -> (Vec<f32>, Vec<u32>) {
    let hw = h * w;
    let mut map = Vec::with_capacity(n * hw);
    for _ in 0..n * hw {
        let k = if ignore && rng.uniform() < 0.11 {
            IGNORE
        } else {
            let present = c.div_ceil(2);
            (2 * (rng.next_u64() as usize % present)).min(c - 1) as u32
        };
        map.push(k);
    }
    let mut logits = vec![0f32; n * c * hw];
    for img in 0..n {
        for k in 0..c {
            for i in 0..hw {
                let boost = if map[img * hw + i] == k as u32 { 2.5 } else { 0.0 };
                logits[(img * c + k) * hw + i] = (boost + 1.5 * rng.normal()) as f32;
            }
        }
    }
    (logits, map)
}

fn class_options(c: usize) -> Vec<ClassOptions> {
    let weights: Vec<f64> = (0..c).map(|k| 0.5 + (k % 4) as f64 * 0.5).collect();
    vec![
        ClassOptions::default(),
        ClassOptions { selection: ClassSelection::NoBackground, absent: AbsentClass::Skip, ..Default::default() },
        ClassOptions { weights: Some(weights.clone()), absent: AbsentClass::Zero, ..Default::default() },
        ClassOptions {
            weights: Some(weights),
            normalize_weights: false,
            selection: ClassSelection::Only(vec![0, c - 1]),
            ..Default::default()
        },
    ]
}

/// Multiclass requests: every loss, several class options, both aggregations. Each inner Vec
/// agrees on the focal γ (one per call).
fn multiclass_requests(c: usize) -> Vec<Vec<Term>> {
    let both = |l: Loss, o: &ClassOptions| [l.batch().with_classes(o.clone()), l.per_image().with_classes(o.clone())];
    let mut a = Vec::new();
    for o in &class_options(c) {
        for l in [
            Loss::Dice(Dice::default()),
            Loss::Dice(Dice { squared: true, smooth_nr: 0.0, smooth_dr: 1e-5, ..Dice::default() }),
            Loss::Dice(Dice { tp_form: TpForm::SoftL1, ..Dice::default() }),
            Loss::Iou(Iou::default()),
            Loss::Tversky(Tversky { alpha: 0.3, beta: 0.7, gamma: 0.75, ..Tversky::default() }),
            Loss::CrossEntropy(CrossEntropy::default()),
            Loss::CrossEntropy(CrossEntropy { label_smoothing: 0.1, reduction: Reduction::Mean }),
            Loss::DiceCe(DiceCe::default()),
            Loss::Focal(Focal::default()),
            Loss::Combo(Combo::default()),
        ] {
            a.extend(both(l, o));
        }
    }
    let d = ClassOptions::default();
    for wt in [GdlWeighting::Square, GdlWeighting::Simple, GdlWeighting::Uniform] {
        a.extend(both(Loss::GeneralizedDice(GeneralizedDice { weighting: wt, ..GeneralizedDice::default() }), &d));
    }
    let nb = ClassOptions { selection: ClassSelection::NoBackground, ..Default::default() };
    a.extend(both(Loss::GeneralizedDice(GeneralizedDice::default()), &nb));
    let focal = Loss::Focal(Focal { alpha: None, gamma: 0.5, reduction: Reduction::Sum, ..Focal::default() });
    let mut b: Vec<Term> = both(focal, &d).to_vec();
    b.extend(both(focal, &class_options(c)[2]));
    vec![a, b]
}

fn compare_multiclass(gpu: &Engine, what: &str, batch: &MulticlassBatch, reqs: &[Vec<Term>]) {
    for (r, req) in reqs.iter().enumerate() {
        let what = format!("{what} request {r}");
        let got = gpu.value_and_grad(batch, req).unwrap_or_else(|e| panic!("{what}: {e}"));
        let want = Engine::cpu().forward(batch, req).unwrap();
        for ((term, g), w) in req.iter().zip(&got.forward.values).zip(&want.values) {
            assert!(close(*g, *w, 1e-5, 1e-7), "{what}: {} {:?}: GPU {g} vs reference {w}", term.label(), term.classes);
        }
        assert_eq!(got.forward.confusion, want.confusion, "{what}: confusion");
        for (i, (g, w)) in got.forward.stats.iter().zip(&want.stats).enumerate() {
            assert_eq!(
                (g.count, g.hard_tp, g.hard_fp, g.hard_fn),
                (w.count, w.hard_tp, w.hard_fp, w.hard_fn),
                "{what} row {i}"
            );
            assert_eq!(g.st, w.st, "{what} row {i}: class pixel count");
        }
        let pp = PixelParams::from_terms(req).unwrap();
        let (_, coefs) = evaluate(req, &want.stats, &want.layout).unwrap();
        let want_grad = segloss::reference::class_grad_pass(batch, pp.focal_gamma, &coefs);
        assert_grad(&what, &got.grad, &want_grad, 1e-5, 1e-8);
        if let Some(ig) = batch.ignore_index {
            let (c, hw) = (batch.classes, batch.shape.pixels());
            for flat in 0..batch.shape.len() {
                if batch.target.get(flat) == ig {
                    let (n, i) = (flat / hw, flat % hw);
                    assert!(
                        (0..c).all(|k| got.grad[(n * c + k) * hw + i] == 0.0),
                        "{what}: ignored pixel has a gradient"
                    );
                }
            }
        }
    }
}

/// Both multiclass forward strategies (`ClassStrategy`: fused, class planes), whichever the
/// adapter would choose; C = 2 takes the fused pass under either (PIXEL_WORDS > C).
#[test]
fn multiclass_matches_reference_for_2_3_19_150_classes() {
    for (strategy, gpu) in class_strategy_engines(EngineOptions::default()) {
        multiclass_cases(&gpu, &format!("{strategy:?}"));
    }
}

fn multiclass_cases(gpu: &Engine, strategy: &str) {
    let mut rng = Rng::new(0xc1a55);
    // 1×3×157×203: 3 rows, so each plane is split over several workgroups (class planes).
    // 30×19×3×5: 570 rows, more than the backward's uniform coefficient table holds (512), so
    // its coefficients are read from storage; every other case reads the uniform table.
    let cases = [(2, 2, 33, 35), (3, 3, 29, 31), (3, 1, 157, 203), (19, 2, 41, 39), (19, 30, 3, 5), (150, 2, 23, 27)];
    for (c, n, h, w) in cases {
        let reqs = multiclass_requests(c);
        for ignore in [false, true] {
            let (logits, map) = make_classes(&mut rng, n, c, h, w, ignore);
            let m8: Vec<u8> = map.iter().map(|&k| k as u8).collect();
            let m16: Vec<u16> = map.iter().map(|&k| k as u16).collect();
            let variants: Vec<(&str, ClassMap)> =
                vec![("u8", ClassMap::U8(&m8)), ("u16", ClassMap::U16(&m16)), ("u32", ClassMap::U32(&map))];
            for (name, target) in variants {
                let mut batch = MulticlassBatch::new(&logits, target, &[n, c, h, w]).unwrap();
                if ignore {
                    batch = batch.ignore_index(IGNORE);
                }
                let what = format!("{strategy}: C={c} {n}x{h}x{w} {name} ignore={ignore}");
                compare_multiclass(gpu, &what, &batch, &reqs);
            }
        }
    }
}

/// Logits far apart (gaps of 40–900): softmax probabilities of exactly 1 and 0 in f64 and
/// f32, where p − t is exactly 0 and a sign, a ratio or a log can go wrong; every request's
/// values and gradient match the reference, and the reference's are finite.
#[test]
fn saturated_softmax_matches_reference() {
    let (n, c, h, w) = (2, 4, 9, 11);
    let hw = h * w;
    let map: Vec<u8> = (0..n * hw).map(|j| ((j * 7 + j / 5) % c) as u8).collect();
    let logits: Vec<f32> = (0..n * c * hw)
        .map(|j| {
            let (img, k, p) = (j / (c * hw), (j / hw) % c, j % hw);
            let label = map[img * hw + p] as usize;
            // Mostly the label wins by 40 or more; every fifth pixel another class wins by 900.
            let winner = if p % 5 == 0 { (label + 1) % c } else { label };
            if k == winner {
                if p % 5 == 0 {
                    450.0
                } else {
                    40.0 + (p % 3) as f32
                }
            } else if p % 5 == 0 {
                -450.0
            } else {
                -(k as f32)
            }
        })
        .collect();
    let batch = MulticlassBatch::new(&logits, ClassMap::U8(&map), &[n, c, h, w]).unwrap();
    for req in multiclass_requests(c) {
        let pp = PixelParams::from_terms(&req).unwrap();
        let want = Engine::cpu().forward(&batch, &req).unwrap();
        let (_, coefs) = evaluate(&req, &want.stats, &want.layout).unwrap();
        let grad = segloss::reference::class_grad_pass(&batch, pp.focal_gamma, &coefs);
        assert!(grad.iter().all(|g| g.is_finite()), "reference gradient not finite for {req:?}");
        assert!(want.values.iter().all(|v| v.is_finite()), "reference value not finite for {req:?}");
    }
    for (strategy, gpu) in class_strategy_engines(EngineOptions::default()) {
        compare_multiclass(&gpu, &format!("{strategy:?}: saturated softmax"), &batch, &multiclass_requests(c));
    }
}

/// Chunks under both strategies. A 64 KiB binding holds 1024 partial rows: C = 3 takes the
/// class planes in chunks of one image (768 partials each), C = 19 and C = 2 the fused pass;
/// a 512 KiB binding takes C = 19 in class planes, one image per chunk.
#[test]
fn multiclass_images_larger_than_a_binding_are_split_exactly() {
    let mut rng = Rng::new(77);
    let cases = [(64, 3, 2, 101, 103), (64, 19, 1, 47, 53), (64, 2, 40, 7, 9), (512, 19, 3, 47, 53)];
    for (kib, c, n, h, w) in cases {
        let options = EngineOptions { max_storage_binding: Some(kib * 1024), ..Default::default() };
        let (logits, map) = make_classes(&mut rng, n, c, h, w, true);
        let batch = MulticlassBatch::new(&logits, ClassMap::U32(&map), &[n, c, h, w]).unwrap().ignore_index(IGNORE);
        for (strategy, small) in class_strategy_engines(options) {
            let what = format!("{strategy:?}: chunked ({kib} KiB) C={c} {n}x{h}x{w}");
            compare_multiclass(&small, &what, &batch, &multiclass_requests(c)[..1]);
            let f = small.forward(&batch, &multiclass_requests(c)[0]).unwrap();
            assert!(f.dispatches.forward_passes > 1, "{what}: expected several chunks");
        }
    }
}

#[test]
fn confusion_matrix_equals_a_plain_count() {
    let gpu = gpu();
    let mut rng = Rng::new(5);
    let (n, c, h, w) = (3, 19, 37, 43);
    let (logits, map) = make_classes(&mut rng, n, c, h, w, true);
    let m8: Vec<u8> = map.iter().map(|&k| k as u8).collect();
    let batch = MulticlassBatch::new(&logits, ClassMap::U8(&m8), &[n, c, h, w]).unwrap().ignore_index(IGNORE);
    let hw = h * w;
    let mut want = vec![0u64; c * c];
    for img in 0..n {
        for i in 0..hw {
            let k = map[img * hw + i];
            if k == IGNORE {
                continue;
            }
            let x = |q: usize| logits[(img * c + q) * hw + i];
            let pred = (0..c).fold(0, |best, q| if x(q) > x(best) { q } else { best });
            want[k as usize * c + pred] += 1;
        }
    }
    let terms = [Loss::CrossEntropy(CrossEntropy::default()).batch()];
    for engine in [&gpu, &Engine::cpu()] {
        let f = engine.forward(&batch, &terms).unwrap();
        assert_eq!(f.confusion.as_deref(), Some(&want[..]), "{}", engine.info().backend);
        // Per-class metrics and mean IoU come from the same counts.
        for (k, m) in f.per_class_metrics.iter().enumerate() {
            let tp = want[k * c + k];
            let fp: u64 = (0..c).filter(|&r| r != k).map(|r| want[r * c + k]).sum();
            let fn_: u64 = (0..c).filter(|&q| q != k).map(|q| want[k * c + q]).sum();
            assert_eq!(*m, Metrics::from_counts(tp, fp, fn_), "class {k}");
        }
        assert!(f.mean_iou.is_some_and(|m| m > 0.0 && m < 1.0));
    }
}

/// Σ weight·loss of f64 logits through the reference's per-pixel class sums.
fn class_total(x: &[f64], map: &[u32], n: usize, c: usize, hw: usize, terms: &[Term], gamma: f64) -> f64 {
    let mut rows = vec![Stats::default(); n * c];
    for img in 0..n {
        for i in 0..hw {
            let k = map[img * hw + i];
            if k == IGNORE {
                continue;
            }
            let px: Vec<f64> = (0..c).map(|q| x[(img * c + q) * hw + i]).collect();
            class_pixel_sums(&mut rows[img * c..(img + 1) * c], &px, k as usize, gamma);
        }
    }
    let layout = Layout { images: n, classes: c, mode: Mode::Multiclass };
    let (values, _) = evaluate(terms, &rows, &layout).unwrap();
    terms.iter().zip(values).map(|(t, v)| t.weight * v).sum()
}

#[test]
fn reference_gradients_through_the_softmax_match_finite_differences() {
    let (n, c, h, w) = (2, 4, 3, 3);
    let hw = h * w;
    let mut rng = Rng::new(4242);
    let (x32, mut map) = make_classes(&mut rng, n, c, h, w, false);
    map[3] = IGNORE;
    map[7] = 1; // class 1 present in image 0, absent elsewhere
    let x: Vec<f64> = x32.iter().map(|&v| v as f64).collect();
    for req in multiclass_requests(c) {
        for term in req.iter().cloned().chain([Term { weight: 0.7, ..req[0].clone() }]) {
            let terms = [term];
            let gamma = PixelParams::from_terms(&terms).unwrap().focal_gamma;
            let mut rows = vec![Stats::default(); n * c];
            for img in 0..n {
                for i in 0..hw {
                    let k = map[img * hw + i];
                    if k != IGNORE {
                        let px: Vec<f64> = (0..c).map(|q| x[(img * c + q) * hw + i]).collect();
                        class_pixel_sums(&mut rows[img * c..(img + 1) * c], &px, k as usize, gamma);
                    }
                }
            }
            let layout = Layout { images: n, classes: c, mode: Mode::Multiclass };
            let (_, coefs) = evaluate(&terms, &rows, &layout).unwrap();
            let (mut d2, mut g2) = (0.0f64, 0.0f64);
            for img in 0..n {
                for i in 0..hw {
                    let k = map[img * hw + i];
                    let px: Vec<f64> = (0..c).map(|q| x[(img * c + q) * hw + i]).collect();
                    let analytic = if k == IGNORE {
                        vec![0.0; c]
                    } else {
                        class_pixel_grad(&px, k as usize, gamma, &coefs[img * c..(img + 1) * c])
                    };
                    for (q, a) in analytic.iter().enumerate() {
                        let idx = (img * c + q) * hw + i;
                        let step = 1e-6 * x[idx].abs().max(1.0);
                        let (mut xp, mut xm) = (x.clone(), x.clone());
                        xp[idx] += step;
                        xm[idx] -= step;
                        let fd = (class_total(&xp, &map, n, c, hw, &terms, gamma)
                            - class_total(&xm, &map, n, c, hw, &terms, gamma))
                            / (2.0 * step);
                        d2 += (a - fd).powi(2);
                        g2 += fd * fd;
                    }
                }
            }
            let (d, g) = (d2.sqrt(), g2.sqrt());
            assert!(g > 1e-6, "{}: degenerate input", terms[0].label());
            assert!(
                d <= 1e-6 * g + 1e-12,
                "{} {:?}: |analytic − fd| {d:e} vs |fd| {g:e}",
                terms[0].label(),
                terms[0].classes
            );
        }
    }
}

#[test]
fn multilabel_matches_reference_and_finite_differences() {
    let gpu = gpu();
    let mut rng = Rng::new(31);
    for (n, c, h, w) in [(2, 3, 29, 31), (3, 5, 17, 19)] {
        let (x, t) = make_case(&mut rng, n * c, h, w, Mask::Hard, 2.0);
        let batch = BinaryBatch::multilabel(&x, &t, &[n, c, h, w]).unwrap();
        let mut terms = Vec::new();
        for o in class_options(c) {
            for l in [
                Loss::Dice(Dice::default()),
                Loss::Bce(Bce::default()),
                Loss::Focal(Focal::default()),
                Loss::Tversky(Tversky { gamma: 1.5, ..Tversky::default() }),
                Loss::Combo(Combo::default()),
            ] {
                terms.push(l.batch().with_classes(o.clone()));
                terms.push(l.per_image().with_classes(o.clone()));
            }
        }
        terms.push(Loss::GeneralizedDice(GeneralizedDice::default()).per_image());
        let got = gpu.value_and_grad(&batch, &terms).unwrap();
        let want = Engine::cpu().value_and_grad(&batch, &terms).unwrap();
        assert_eq!(got.forward.stats.len(), n * c);
        for ((term, g), w) in terms.iter().zip(&got.forward.values).zip(&want.forward.values) {
            assert!(close(*g, *w, 1e-5, 1e-7), "multilabel {}: {g} vs {w}", term.label());
        }
        let pp = PixelParams::from_terms(&terms).unwrap();
        let layout = Layout { images: n, classes: c, mode: Mode::Multilabel };
        let (_, coefs) = evaluate(&terms, &want.forward.stats, &layout).unwrap();
        let want_grad = segloss::reference::grad_pass(&batch, &pp, &coefs);
        assert_grad("multilabel", &got.grad, &want_grad, 1e-5, 1e-8);
        // Finite differences of the reference on one plane's element.
        let total = |xs: &[f32]| {
            let b = BinaryBatch::multilabel(xs, &t, &[n, c, h, w]).unwrap();
            Engine::cpu().forward(&b, &terms).unwrap().total()
        };
        for idx in [0, h * w + 5, (n * c - 1) * h * w + 7] {
            let step = 1e-2f32;
            let (mut xp, mut xm) = (x.clone(), x.clone());
            xp[idx] += step;
            xm[idx] -= step;
            let fd = (total(&xp) - total(&xm)) / ((xp[idx] - xm[idx]) as f64);
            assert!(close(want_grad[idx], fd, 1e-3, 1e-6), "multilabel element {idx}: {} vs fd {fd}", want_grad[idx]);
        }
    }
}

#[test]
fn one_pass_forward_and_one_backward_for_any_number_of_losses_and_classes() {
    let gpu = gpu();
    let mut rng = Rng::new(150);
    let (n, c, h, w) = (2, 150, 31, 33);
    let (logits, map) = make_classes(&mut rng, n, c, h, w, true);
    let batch = MulticlassBatch::new(&logits, ClassMap::U32(&map), &[n, c, h, w]).unwrap().ignore_index(IGNORE);
    let terms = &multiclass_requests(c)[0];
    assert!(terms.len() > 60);
    let out = gpu.value_and_grad(&batch, terms).unwrap();
    assert_eq!(out.forward.dispatches, DispatchCount { forward_passes: 1, backward_passes: 1 });
    let one = gpu.forward(&batch, &terms[..1]).unwrap();
    assert_eq!(one.dispatches.forward_passes, 1);
}

#[test]
fn bad_multiclass_input_is_an_error() {
    let logits = vec![0.5f32; 2 * 3 * 4 * 5];
    let mut map = vec![0u8; 2 * 4 * 5];
    map[27] = 3; // image 1, pixel 7: class 3 with C = 3
    map[30] = 9;
    let batch = MulticlassBatch::new(&logits, ClassMap::U8(&map), &[2, 3, 4, 5]).unwrap();
    let terms = [Loss::Dice(Dice::default()).batch()];
    let gpus = class_strategy_engines(EngineOptions::default()).into_iter().map(|(_, e)| e);
    for engine in gpus.chain([Engine::cpu()]) {
        let e = engine.forward(&batch, &terms).unwrap_err();
        assert!(
            matches!(e, Error::OutOfRange { tensor: Tensor::Target, index: 27, image: 1, pixel: 7, value: 3.0, .. }),
            "{}: {e}",
            engine.info().backend
        );
        assert!(e.to_string().contains("class indices 0..3"), "{e}");
        // Ignoring class 3 and 9 makes it valid.
        let ok = batch.ignore_index(3);
        assert!(engine.forward(&ok, &terms).is_err()); // 9 is still bad
        let mut nan = logits.clone();
        nan[(3 + 2) * 20 + 11] = f32::NAN; // image 1, class 2, pixel 11
        let b = MulticlassBatch::new(&nan, ClassMap::U8(&[0u8; 40]), &[2, 3, 4, 5]).unwrap();
        let e = engine.forward(&b, &terms).unwrap_err();
        assert!(
            matches!(e, Error::NonFinite { tensor: Tensor::Input, index: 111, image: 1, channel: 2, pixel: 11, .. }),
            "{e}"
        );
    }
    let e = MulticlassBatch::new(&[], ClassMap::U8(&[]), &[1, 0, 2, 2]).unwrap_err();
    assert!(e.to_string().contains("C = 0"), "{e}");
    let e = MulticlassBatch::new(&logits, ClassMap::U8(&map[..39]), &[2, 3, 4, 5]).unwrap_err();
    assert!(matches!(e, Error::ShapeMismatch { tensor: Tensor::Target, expected: 40, actual: 39, .. }), "{e}");
    let e = MulticlassBatch::new(&logits[1..], ClassMap::U8(&map), &[2, 3, 4, 5]).unwrap_err();
    assert!(matches!(e, Error::ShapeMismatch { tensor: Tensor::Input, .. }), "{e}");
    let good = MulticlassBatch::new(&logits, ClassMap::U8(&[0u8; 40]), &[2, 3, 4, 5]).unwrap();
    let weights = ClassOptions { weights: Some(vec![1.0, 2.0]), ..Default::default() };
    let e = Engine::cpu().forward(&good, &[Loss::Dice(Dice::default()).batch().with_classes(weights)]).unwrap_err();
    assert!(e.to_string().contains("2 class weights for 3 classes"), "{e}");
    let e = Engine::cpu().forward(&good, &[Loss::Bce(Bce::default()).batch()]).unwrap_err();
    assert!(e.to_string().contains("CrossEntropy"), "{e}");
    let x = [0f32; 4];
    let binary = BinaryBatch::new(&x, &x, &[1, 2, 2]).unwrap();
    let e = Engine::cpu().forward(&binary, &[Loss::CrossEntropy(CrossEntropy::default()).batch()]).unwrap_err();
    assert!(matches!(e, Error::InvalidRequest(_)), "{e}");
    let subset = ClassOptions { selection: ClassSelection::Only(vec![5]), ..Default::default() };
    let e = Engine::cpu().forward(&good, &[Loss::Dice(Dice::default()).batch().with_classes(subset)]).unwrap_err();
    assert!(e.to_string().contains("class 5 selected but C = 3"), "{e}");
    let neg = ClassOptions { weights: Some(vec![1.0, -1.0, 1.0]), ..Default::default() };
    let e = Engine::cpu().forward(&good, &[Loss::Dice(Dice::default()).batch().with_classes(neg)]).unwrap_err();
    assert!(matches!(e, Error::InvalidParameter { .. }), "{e}");
    let e = BinaryBatch::multilabel(&x, &x, &[1, 0, 2, 2]).unwrap_err();
    assert!(e.to_string().contains("C = 0"), "{e}");
}

#[test]
fn backward_with_stats_checks_its_data_like_the_forward_pass() {
    let logits = vec![0.3f32; 3 * 2 * 2];
    let map = [0u8, 1, 5, 2]; // pixel 2: class 5 ≥ C = 3
    let batch = MulticlassBatch::new(&logits, ClassMap::U8(&map), &[1, 3, 2, 2]).unwrap();
    let terms = [Loss::Dice(Dice::default()).batch()];
    let global = vec![Stats::default(); 3];
    for engine in [gpu(), Engine::cpu()] {
        let e = engine.backward_with_stats(&batch, &terms, &global, 0).unwrap_err();
        assert!(matches!(e, Error::OutOfRange { tensor: Tensor::Target, index: 2, .. }), "{e}");
    }
    let x = [0.5f32, f32::NAN];
    let t = [1.0f32, 0.0];
    let binary = BinaryBatch::new(&x, &t, &[1, 1, 2]).unwrap();
    let e = gpu().backward_with_stats(&binary, &terms, &[Stats::default()], 0).unwrap_err();
    assert!(matches!(e, Error::NonFinite { index: 1, .. }), "{e}");
}

#[test]
fn a_class_selected_twice_is_an_error() {
    let logits = vec![0.0f32; 3 * 4];
    let batch = MulticlassBatch::new(&logits, ClassMap::U8(&[0, 1, 2, 1]), &[1, 3, 2, 2]).unwrap();
    let twice = ClassOptions { selection: ClassSelection::Only(vec![1, 1, 2]), ..Default::default() };
    let e = Engine::cpu().forward(&batch, &[Loss::Dice(Dice::default()).batch().with_classes(twice)]).unwrap_err();
    assert!(e.to_string().contains("class 1 selected twice"), "{e}");
}

#[test]
fn dice_ce_keeps_its_cross_entropy_when_every_dice_class_is_skipped() {
    // One all-background image: with NoBackground + Skip the Dice part has no class, but the
    // cross-entropy is still defined and counted.
    let mut rng = Rng::new(4);
    let logits: Vec<f32> = (0..3 * 9).map(|_| rng.normal() as f32).collect();
    let batch = MulticlassBatch::new(&logits, ClassMap::U8(&[0; 9]), &[1, 3, 3, 3]).unwrap();
    let skip =
        ClassOptions { selection: ClassSelection::NoBackground, absent: AbsentClass::Skip, ..Default::default() };
    let dice_ce = Loss::DiceCe(DiceCe::default()).per_image().with_classes(skip);
    let ce = Loss::CrossEntropy(CrossEntropy::default()).per_image();
    for engine in [gpu(), Engine::cpu()] {
        let out = engine.value_and_grad(&batch, std::slice::from_ref(&dice_ce)).unwrap();
        let alone = engine.value_and_grad(&batch, std::slice::from_ref(&ce)).unwrap();
        assert!(close(out.forward.values[0], alone.forward.values[0], 1e-12, 0.0), "{:?}", out.forward.values);
        assert!(out.forward.values[0] > 0.0);
        let g: Vec<f64> = alone.grad.iter().map(|&v| v as f64).collect();
        assert_grad("dice_ce = ce", &out.grad, &g, 1e-6, 1e-12);
    }
}
