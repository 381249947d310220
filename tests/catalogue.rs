//! The whole loss catalogue, driven by the catalogue itself: every parameter set each loss
//! module lists in its `examples()`, in every mode it applies to, per image and over the
//! batch, on hard and soft masks of odd sizes: the blocking GPU path against the f64
//! reference (values and gradient), and for the sum-based losses a plan (GPU finalize)
//! against the reference too, unless the plan refuses the option with its documented reason.
//! A loss added to the catalogue is covered here without a line of this file changing.
mod common;
use common::*;
use segloss::*;

/// One case of a mode: logits and targets (float targets, or a u8 class map) and dims.
struct Case {
    mode: Mode,
    dims: Vec<usize>,
    logits: Vec<f32>,
    targets: Vec<f32>,
    map: Vec<u8>,
}

fn cases(seed: u64) -> Vec<Case> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::new();
    for (mode, dims, mask) in [
        (Mode::Binary, vec![3, 1, 17, 19], Mask::Hard),
        (Mode::Binary, vec![2, 1, 9, 7], Mask::Soft),
        (Mode::Multilabel, vec![2, 3, 13, 11], Mask::Hard),
        (Mode::Multilabel, vec![2, 3, 9, 7], Mask::Empty),
        (Mode::Multiclass, vec![2, 4, 13, 11], Mask::Hard),
    ] {
        let (n, c, h, w) = (dims[0], dims[1], dims[2], dims[3]);
        let (mut logits, targets) = make_case(&mut rng, n * c, h, w, mask, 2.0);
        let map: Vec<u8> = (0..n * h * w).map(|_| (rng.uniform() * c as f64) as u8).collect();
        if mode == Mode::Multiclass {
            // Logits that favour the labelled class, with noise.
            for img in 0..n {
                for p in 0..h * w {
                    let k = map[img * h * w + p] as usize;
                    logits[(img * c + k) * h * w + p] += 1.5;
                }
            }
        }
        out.push(Case { mode, dims, logits, targets, map });
    }
    out
}

fn input(case: &Case) -> Input<'_> {
    match case.mode {
        Mode::Binary => Input::Binary(BinaryBatch::new(&case.logits, &case.targets, &case.dims).unwrap()),
        Mode::Multilabel => Input::Binary(BinaryBatch::multilabel(&case.logits, &case.targets, &case.dims).unwrap()),
        Mode::Multiclass => {
            Input::Multiclass(MulticlassBatch::new(&case.logits, ClassMap::U8(&case.map), &case.dims).unwrap())
        }
    }
}

/// The terms of a loss: batch and per image, and per image with each absent-class policy
/// (which only region losses follow, as `SumLoss::is_region` says).
fn terms_of(loss: &Loss) -> Vec<Term> {
    let mut terms = vec![loss.batch(), loss.per_image()];
    for absent in [AbsentClass::Zero, AbsentClass::Skip] {
        terms.push(loss.per_image().with_classes(ClassOptions { absent, ..ClassOptions::default() }));
    }
    terms
}

fn applies(loss: &Loss, mode: Mode) -> bool {
    let layout = Layout { images: 1, classes: if mode == Mode::Binary { 1 } else { 3 }, mode };
    // The catalogue's own rule, seen through the public API: a term that does not apply is
    // refused by `forward` with "does not apply".
    let x = vec![0.5f32; layout.classes * 4];
    let t = vec![1.0f32; layout.classes * 4];
    let map = [0u8, 1, 2, 0];
    let dims = [1, layout.classes, 2, 2];
    let input = match mode {
        Mode::Binary => Input::Binary(BinaryBatch::new(&x, &t, &dims).unwrap()),
        Mode::Multilabel => Input::Binary(BinaryBatch::multilabel(&x, &t, &dims).unwrap()),
        Mode::Multiclass => Input::Multiclass(MulticlassBatch::new(&x, ClassMap::U8(&map), &dims).unwrap()),
    };
    match Engine::cpu().forward(input, &[loss.batch()]) {
        Ok(_) => true,
        Err(e) => {
            assert!(e.to_string().contains("does not apply"), "{loss:?} in {mode:?}: {e}");
            false
        }
    }
}

#[test]
fn every_catalogue_example_matches_the_reference_on_the_gpu() {
    let engine = gpu();
    let cases = cases(71);
    let mut checked = 0;
    for loss in Loss::examples() {
        for case in cases.iter().filter(|c| applies(&loss, c.mode)) {
            for term in terms_of(&loss) {
                let what =
                    format!("{loss:?} {} {:?} {:?} {:?}", term.label(), term.classes.absent, case.mode, case.dims);
                let terms = [term.weighted(0.75)];
                let want = Engine::cpu().value_and_grad(input(case), &terms).unwrap();
                let got = engine.value_and_grad(input(case), &terms).unwrap();
                let (g, w) = (got.forward.values[0], want.forward.values[0]);
                assert!(g.is_finite() && close(g, w, 1e-5, 1e-7), "{what}: GPU {g} vs reference {w}");
                let rel = if loss.is_standalone() { 1e-4 } else { 1e-5 };
                let w64: Vec<f64> = want.grad.iter().map(|&v| v as f64).collect();
                assert_grad(&what, &got.grad, &w64, rel, 1e-9);
                checked += 1;
            }
        }
    }
    assert!(checked >= 100, "only {checked} cases ran");
}

#[test]
fn every_sum_based_example_runs_in_a_plan_or_is_refused_with_the_reason() {
    let engine = gpu();
    let cases = cases(72);
    let (mut planned, mut refused) = (0, 0);
    for loss in Loss::examples() {
        for case in cases.iter().filter(|c| applies(&loss, c.mode)) {
            for term in terms_of(&loss) {
                let what =
                    format!("{loss:?} {} {:?} {:?} {:?}", term.label(), term.classes.absent, case.mode, case.dims);
                let terms = vec![term.weighted(1.25)];
                let desc = match case.mode {
                    Mode::Binary => PlanDesc::binary(&case.dims, terms.clone()),
                    Mode::Multilabel => PlanDesc::multilabel(&case.dims, terms.clone()),
                    Mode::Multiclass => PlanDesc::multiclass(&case.dims, TargetFormat::Classes8, terms.clone()),
                }
                .unwrap()
                .with_gradient();
                let plan = match engine.plan(desc) {
                    Ok(p) => p,
                    Err(e) => {
                        assert!(e.to_string().contains("not available in a plan"), "{what}: {e}");
                        refused += 1;
                        continue;
                    }
                };
                let targets = match case.mode {
                    Mode::Multiclass => TargetData::Classes(ClassMap::U8(&case.map)),
                    _ => TargetData::F32(&case.targets),
                };
                let got = plan.run(LogitData::F32(&case.logits), targets).unwrap();
                let want = Engine::cpu().value_and_grad(input(case), &terms).unwrap();
                let (g, w) = (got.values[0] as f64, want.forward.values[0]);
                assert!(close(g, w, 3e-5, 1e-6), "{what}: plan {g} vs reference {w}");
                let w64: Vec<f64> = want.grad.iter().map(|&v| v as f64).collect();
                assert_grad(&what, got.grad.as_ref().unwrap(), &w64, 3e-5, 1e-9);
                planned += 1;
            }
        }
    }
    assert!(planned >= 80 && refused > 0, "planned {planned}, refused {refused}");
}

/// Every catalogue name parses from the command line's keywords with its defaults, and
/// gives the loss's own `Default` (no copy of a default can drift).
#[test]
fn every_catalogue_name_parses_to_its_defaults() {
    let names = Loss::names();
    assert!(names.len() >= 12);
    for name in names {
        let preset = preset::Preset::parse(name, &serde_json::Value::Null).unwrap();
        let parts = preset.parts(if name.contains("softmax") || name.contains("cross") { 3 } else { 1 }).unwrap();
        assert_eq!(parts[0].terms[0].term.loss.name(), name);
    }
    let default_of = |name: &str, channels: usize| {
        let p = preset::Preset::parse(name, &serde_json::Value::Null).unwrap();
        p.parts(channels).unwrap()[0].terms[0].term.loss
    };
    assert_eq!(default_of("dice", 1), Loss::Dice(Dice::default()));
    assert_eq!(default_of("focal", 1), Loss::Focal(Focal::default()));
    assert_eq!(default_of("tversky", 1), Loss::Tversky(Tversky::default()));
    assert_eq!(default_of("combo", 1), Loss::Combo(Combo::default()));
    assert_eq!(default_of("bce_dice", 1), Loss::BceDice(BceDice::default()));
    assert_eq!(default_of("generalized_dice", 3), Loss::GeneralizedDice(GeneralizedDice::default()));
    assert_eq!(default_of("dice_ce", 3), Loss::DiceCe(DiceCe::default()));
}

/// An edit of one sum of a segment's statistics.
type Edit = fn(&mut Stats, f64);

/// `Loss::value_and_coefficients`, the public per-segment function: for every sum-based
/// example, its value on an image's sums is the engine's per-image value of that image, and
/// its coefficients are the derivatives of that value with respect to the sums (central
/// differences in f64; Σmin(p, t) = (Σp + Σt − Σ|p − t|)/2 moves with Σp and Σ|p − t|).
/// Losses over all classes at once and standalone ones give `None`.
#[test]
fn value_and_coefficients_are_the_per_image_value_and_its_derivatives() {
    let mut rng = Rng::new(0xc0ef);
    let (x, t) = make_case(&mut rng, 1, 23, 29, Mask::Soft, 1.5);
    let batch = BinaryBatch::new(&x, &t, &[1, 1, 23, 29]).unwrap();
    // An image's sums, for the losses that have no per-segment function: None on real sums
    // too, not only on empty ones.
    let real = Engine::cpu().forward(&batch, &[Loss::Dice(Dice::default()).per_image()]).unwrap().stats[0];
    let mut checked = 0;
    for loss in Loss::examples() {
        let term = loss.per_image();
        let whole_segment = matches!(loss, Loss::CrossEntropy(_) | Loss::DiceCe(_) | Loss::GeneralizedDice(_));
        if loss.is_standalone() || whole_segment {
            assert!(loss.value_and_coefficients(&Stats::default()).is_none(), "{}", term.label());
            assert!(loss.value_and_coefficients(&real).is_none(), "{}", term.label());
            continue;
        }
        let Ok(out) = Engine::cpu().forward(&batch, std::slice::from_ref(&term)) else {
            assert!(loss.value_and_coefficients(&Stats::default()).is_none(), "{}", term.label());
            assert!(loss.value_and_coefficients(&real).is_none(), "{}", term.label());
            continue;
        };
        let s = out.stats[0];
        let Some((value, c)) = loss.value_and_coefficients(&s) else {
            panic!("{}: no per-segment function", term.label());
        };
        assert!(close(value, out.values[0], 1e-12, 1e-14), "{}: {value} vs engine {}", term.label(), out.values[0]);
        let f = |edit: Edit, h: f64| {
            let (mut a, mut b) = (s, s);
            edit(&mut a, h);
            edit(&mut b, -h);
            (loss.value_and_coefficients(&a).unwrap().0 - loss.value_and_coefficients(&b).unwrap().0) / (2.0 * h)
        };
        let fields: [(&str, Edit, f64); 7] = [
            ("sp", |s, h| s.sp += h, c.sp + c.smin / 2.0),
            ("tp", |s, h| s.tp += h, c.tp),
            ("spp", |s, h| s.spp += h, c.spp),
            ("sad", |s, h| s.sad += h, c.sad - c.smin / 2.0),
            ("bce", |s, h| s.bce += h, c.bce),
            ("focal", |s, h| s.focal += h, c.focal),
            ("wce", |s, h| s.wce += h, c.wce),
        ];
        for (name, edit, want) in fields {
            let fd = f(edit, 1e-3);
            assert!(
                close(fd, want, 1e-5, 1e-9),
                "{}: d/d{name}: coefficient {want} vs central difference {fd}",
                term.label()
            );
        }
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} sum-based examples");
}
