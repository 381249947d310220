//! Soft clDice (`ClDice`) and the generalized Wasserstein Dice loss (`WassersteinDice`):
//! values worked out by hand, the reference's gradient against central differences of its
//! own f64 value (2-D and 3-D, probabilities, sigmoid and softmax), the GPU engine against the
//! reference, and what they refuse. MONAI's own numbers are the `*clDice*` and
//! `*GeneralizedWassersteinDiceLoss*` fixtures (`tests/presets.rs`).
mod common;
use common::*;
use segloss::preset::{evaluate, prediction_dims, Array, Preset};
use segloss::*;

fn cldice(iterations: u32, smooth_nr: f64, smooth_dr: f64, smooth: f64) -> Loss {
    Loss::ClDice(ClDice { iterations, smooth_nr, smooth_dr, smooth })
}

/// clDice from its topology precision and sensitivity.
fn harmonic(tprec: f64, tsens: f64, smooth: f64) -> f64 {
    1.0 - 2.0 * tprec * tsens / (tprec + tsens + smooth)
}

/// A 5×5 plane of probability 0.5 against a target that is one full row (a line one pixel
/// wide): the line erodes to nothing, so its skeleton is the line itself for any number of
/// iterations, and the constant prediction's skeleton is empty (it equals its opening).
/// With smoothing 1, 1: Tprec = 1/1, Tsens = (5·0.5 + 1)/(5 + 1) = 7/12; with 0, ½:
/// Tprec = 0/½ = 0, Tsens = 2.5/5.5 = 5/11, clDice = 1.
///
/// A 3×3 block in a 5×5 plane: erosion leaves the centre, whose opening is empty, so its
/// skeleton is the centre pixel once there is one iteration: Tsens = (0.5 + 1)/(1 + 1) = 3/4;
/// with no iteration the block equals its opening, the skeleton is empty: Tsens = 1.
#[test]
fn cldice_values_worked_out_by_hand() {
    let p = [0.5f32; 25];
    let line: Vec<f32> = (0..25).map(|j| (j / 5 == 2) as u8 as f32).collect();
    let block: Vec<f32> =
        (0..25).map(|j| ((1..4).contains(&(j / 5)) && (1..4).contains(&(j % 5))) as u8 as f32).collect();
    let cases = [
        (&line, cldice(3, 1.0, 1.0, 1e-4), harmonic(1.0, 7.0 / 12.0, 1e-4)),
        (&line, cldice(0, 1.0, 1.0, 0.5), harmonic(1.0, 7.0 / 12.0, 0.5)),
        (&line, cldice(2, 0.0, 0.5, 1e-4), 1.0),
        (&block, cldice(1, 1.0, 1.0, 1e-4), harmonic(1.0, 0.75, 1e-4)),
        (&block, cldice(4, 1.0, 1.0, 1e-4), harmonic(1.0, 0.75, 1e-4)),
        (&block, cldice(0, 1.0, 1.0, 1e-4), harmonic(1.0, 1.0, 1e-4)),
    ];
    for engine in [&Engine::cpu(), shared_gpu()] {
        for (t, loss, want) in &cases {
            let b = BinaryBatch::new(&p, t, &[1, 1, 5, 5]).unwrap().probabilities();
            let got = engine.forward(&b, &[loss.batch()]).unwrap().values[0];
            assert!((got - want).abs() < 1e-12, "{loss:?}: {got} vs {want}");
        }
    }
}

/// Two pixels, two classes, no smoothing. Pixel A is labelled 0 with p₁ = 1/4, pixel B is
/// labelled 1 with p₀ = 1/2; with M = 1 − I the Wasserstein distances are w_A = 1/4, w_B = 1/2.
/// Default weighting (α = 0, 1): TP = 1 − w_B = 1/2, denominator 2·TP + w_A + w_B = 7/4,
/// loss = 1 − 1/(7/4) = 3/7. GDL weighting (one pixel per class: α = 1/2, 1/2):
/// TP = (3/4 + 1/2)/2 = 5/8, denominator ((2 − 1/4) + (2 − 1/2))/2 = 13/8, loss = 3/13.
/// With M = [[0, 2], [4, 0]] (scaled by its maximum: [[0, 1/2], [1, 0]]): w_A = 1/8,
/// w_B = 1/2; default: TP = 1/2, denominator 1 + 5/8, loss = 1 − 8/13 = 5/13.
#[test]
fn wasserstein_values_worked_out_by_hand() {
    let x = [0.0f32, 0.0, (1.0f32 / 3.0).ln(), 0.0];
    let map = [0u8, 1];
    let b = MulticlassBatch::new(&x, ClassMap::U8(&map), &[1, 2, 1, 2]).unwrap();
    let loss = |weighting| Loss::WassersteinDice(WassersteinDice { weighting, smooth_nr: 0.0, smooth_dr: 0.0 });
    let matrix = ClassOptions { class_distances: Some(vec![0.0, 2.0, 4.0, 0.0]), ..ClassOptions::default() };
    let cases = [
        (loss(WassersteinWeighting::Default).per_image(), 3.0 / 7.0),
        (loss(WassersteinWeighting::Gdl).per_image(), 3.0 / 13.0),
        (loss(WassersteinWeighting::Default).batch().with_classes(matrix), 5.0 / 13.0),
    ];
    for engine in [&Engine::cpu(), shared_gpu()] {
        for (term, want) in &cases {
            let got = engine.forward(&b, std::slice::from_ref(term)).unwrap().values[0];
            assert!((got - want).abs() < 1e-7, "{}: {got} vs {want}", term.label());
        }
    }
}

/// Distinct values, at least `gap` apart, in a random order: no pooling window or minimum
/// changes its argument under a step much smaller than the gap, so the loss is smooth there.
fn separated(rng: &mut Rng, len: usize, lo: f64, hi: f64) -> Vec<f32> {
    let mut v: Vec<f32> = (0..len).map(|k| (lo + (hi - lo) * (k as f64 + 0.5) / len as f64) as f32).collect();
    for k in (1..len).rev() {
        v.swap(k, (rng.uniform() * (k + 1) as f64) as usize % (k + 1));
    }
    v
}

fn binary<'a>(x: &'a [f32], t: &'a [f32], dims: &'a [usize], probabilities: bool) -> BinaryBatch<'a> {
    let b = BinaryBatch::multilabel(x, t, dims).unwrap();
    if probabilities {
        b.probabilities()
    } else {
        b
    }
}

fn multiclass<'a>(x: &'a [f32], map: &'a [u8], dims: &'a [usize]) -> MulticlassBatch<'a> {
    MulticlassBatch::new(x, ClassMap::U8(map), dims).unwrap()
}

/// Central differences of the reference value against the reference gradient.
fn check_fd(what: &str, x: &[f32], value: &dyn Fn(&[f32]) -> f64, grad: &[f32]) {
    let h = 1e-4f32;
    let (mut err, mut norm) = (0.0f64, 0.0f64);
    for j in 0..x.len() {
        let (mut up, mut down) = (x.to_vec(), x.to_vec());
        up[j] += h;
        down[j] -= h;
        let step = up[j] as f64 - down[j] as f64;
        let fd = (value(&up) - value(&down)) / step;
        err += (fd - grad[j] as f64).powi(2);
        norm += fd * fd;
    }
    let rel = (err / norm.max(1e-300)).sqrt();
    assert!(norm > 0.0 && rel < 2e-4, "{what}: gradient off the central differences by {rel:.2e} relative L2");
}

#[test]
fn cldice_gradient_matches_central_differences() {
    let cpu = Engine::cpu();
    let mut rng = Rng::new(7);
    for (dims, term) in [
        (vec![2, 1, 9, 11], cldice(3, 1.0, 1.0, 1e-4).batch()),
        (vec![2, 1, 9, 11], cldice(2, 0.0, 0.5, 0.1).per_image()),
        (vec![1, 2, 4, 5, 6], cldice(2, 1.0, 1.0, 1e-4).per_image()),
        (
            vec![1, 2, 4, 5, 6],
            cldice(1, 0.5, 2.0, 1e-4).batch().with_classes(ClassOptions { pool: true, ..Default::default() }),
        ),
    ] {
        let len: usize = dims.iter().product();
        let t: Vec<f32> = (0..len).map(|j| ((j / 3 + j / 7) % 3 != 0) as u8 as f32).collect();
        // Probabilities in (0.05, 0.95), and logits (sigmoid keeps their order).
        for probabilities in [true, false] {
            let x =
                if probabilities { separated(&mut rng, len, 0.05, 0.95) } else { separated(&mut rng, len, -3.0, 3.0) };
            let terms = std::slice::from_ref(&term);
            let value = |x: &[f32]| cpu.forward(&binary(x, &t, &dims, probabilities), terms).unwrap().values[0];
            let grad = cpu.value_and_grad(&binary(&x, &t, &dims, probabilities), terms).unwrap().grad;
            let what = format!("{} {dims:?} probabilities {probabilities}", term.label());
            check_fd(&what, &x, &value, &grad);
            let gpu = shared_gpu().value_and_grad(&binary(&x, &t, &dims, probabilities), terms).unwrap();
            let want: Vec<f64> = grad.iter().map(|&g| g as f64).collect();
            assert_grad(&what, &gpu.grad, &want, 1e-6, 1e-9);
        }
    }
}

#[test]
fn softmax_gradients_match_central_differences() {
    let cpu = Engine::cpu();
    let mut rng = Rng::new(11);
    let m = vec![0.0, 1.0, 3.0, 2.0, 0.0, 1.0, 0.5, 1.5, 0.0];
    for (dims, term) in [
        (
            vec![2, 3, 7, 9],
            cldice(2, 1.0, 1.0, 1e-4)
                .per_image()
                .with_classes(ClassOptions { selection: ClassSelection::Only(vec![1, 2]), ..Default::default() }),
        ),
        (vec![1, 3, 3, 4, 5], cldice(1, 1.0, 1.0, 0.3).batch()),
        (vec![2, 3, 7, 9], Loss::WassersteinDice(WassersteinDice::default()).per_image()),
        (
            vec![2, 3, 3, 4, 5],
            Loss::WassersteinDice(WassersteinDice {
                weighting: WassersteinWeighting::Gdl,
                smooth_nr: 0.5,
                smooth_dr: 1.0,
            })
            .batch()
            .with_classes(ClassOptions { class_distances: Some(m.clone()), ..Default::default() }),
        ),
    ] {
        let (n, c) = (dims[0], dims[1]);
        let hw: usize = dims[2..].iter().product();
        let map: Vec<u8> = (0..n * hw).map(|j| ((j / 5 + j / 11) % c) as u8).collect();
        let x = separated(&mut rng, n * c * hw, -2.0, 2.0);
        let terms = std::slice::from_ref(&term);
        let value = |x: &[f32]| cpu.forward(&multiclass(x, &map, &dims), terms).unwrap().values[0];
        let grad = cpu.value_and_grad(&multiclass(&x, &map, &dims), terms).unwrap().grad;
        let what = format!("{} {dims:?}", term.label());
        check_fd(&what, &x, &value, &grad);
        let gpu = shared_gpu().value_and_grad(&multiclass(&x, &map, &dims), terms).unwrap();
        let want: Vec<f64> = grad.iter().map(|&g| g as f64).collect();
        assert_grad(&what, &gpu.grad, &want, 1e-6, 1e-9);
    }
}

fn expect_err(what: &str, r: Result<Forward>, needles: &[&str]) {
    let e = match r {
        Ok(v) => panic!("{what}: accepted, gave {:?}", v.values),
        Err(e) => e.to_string(),
    };
    for n in needles {
        assert!(e.contains(n), "{what}: error {e:?} does not say {n:?}");
    }
}

#[test]
fn what_they_refuse() {
    let cpu = Engine::cpu();
    let x = vec![0.3f32; 2 * 3 * 4 * 5];
    let t = vec![1.0f32; 2 * 3 * 4 * 5];
    let map = vec![1u8; 2 * 4 * 5];
    let ml = BinaryBatch::multilabel(&x, &t, &[2, 3, 4, 5]).unwrap();
    let mc = MulticlassBatch::new(&x, ClassMap::U8(&map), &[2, 3, 4, 5]).unwrap();
    let line = BinaryBatch::multilabel(&x, &t, &[2, 3, 20]).unwrap();
    let weights = ClassOptions { weights: Some(vec![1.0, 2.0, 1.0]), ..ClassOptions::default() };
    let distances = |m: Vec<f64>| ClassOptions { class_distances: Some(m), ..ClassOptions::default() };
    let wd = Loss::WassersteinDice(WassersteinDice::default());
    let cl = cldice(3, 1.0, 1.0, 1e-4);
    expect_err("clDice on [N, C, L]", cpu.forward(&line, &[cl.batch()]), &["clDice", "2-D or 3-D"]);
    expect_err("clDice smooth_dr 0", cpu.forward(&ml, &[cldice(3, 1.0, 0.0, 1e-4).batch()]), &["smooth_dr", "> 0"]);
    expect_err("clDice smooth 0", cpu.forward(&ml, &[cldice(3, 1.0, 1.0, 0.0).batch()]), &["smooth", "> 0"]);
    expect_err("clDice smooth_nr < 0", cpu.forward(&ml, &[cldice(3, -1.0, 1.0, 1e-4).batch()]), &["smooth_nr"]);
    expect_err(
        "clDice iterations 5000",
        cpu.forward(&ml, &[cldice(5000, 1.0, 1.0, 1e-4).batch()]),
        &["iterations", "1024"],
    );
    expect_err("clDice weights", cpu.forward(&ml, &[cl.batch().with_classes(weights.clone())]), &["weights"]);
    expect_err("Wasserstein binary", cpu.forward(&ml, &[wd.batch()]), &["does not apply"]);
    expect_err(
        "Wasserstein weights",
        cpu.forward(&mc, &[wd.batch().with_classes(weights)]),
        &["Wasserstein", "weights"],
    );
    let pooled = ClassOptions { pool: true, ..ClassOptions::default() };
    expect_err("Wasserstein pooled", cpu.forward(&mc, &[wd.batch().with_classes(pooled)]), &["Wasserstein", "pooling"]);
    expect_err(
        "matrix 2x2 for 3",
        cpu.forward(&mc, &[wd.batch().with_classes(distances(vec![0.0, 1.0, 1.0, 0.0]))]),
        &["4 class distances for 3 classes"],
    );
    expect_err(
        "negative distance",
        cpu.forward(&mc, &[wd.batch().with_classes(distances(vec![-1.0; 9]))]),
        &["class_distances"],
    );
    expect_err(
        "zero matrix",
        cpu.forward(&mc, &[wd.batch().with_classes(distances(vec![0.0; 9]))]),
        &["class_distances", "no positive"],
    );
    let dice = Loss::Dice(Dice::default());
    expect_err(
        "distances for Dice",
        cpu.forward(&mc, &[dice.batch().with_classes(distances(vec![1.0; 9]))]),
        &["class_distances"],
    );
}

#[test]
fn presets_refuse_what_monai_cannot_mean() {
    for (name, params, needle) in [
        ("monai.SoftclDiceLoss", r#"{"iter_": 2.5}"#, "iter_"),
        ("monai.SoftclDiceLoss", r#"{"iter_": -1}"#, "iter_"),
        ("monai.SoftDiceclDiceLoss", r#"{"smooth": 0}"#, "smooth"),
        ("monai.SoftDiceclDiceLoss", r#"{"alpha": 1.5}"#, "alpha"),
        ("monai.SoftclDiceLoss", r#"{"batch": true}"#, "unknown keyword 'batch'"),
        ("monai.SoftclDiceLoss", r#"{"reduction": "none"}"#, "reduction"),
        ("monai.GeneralizedWassersteinDiceLoss", r#"{}"#, "dist_matrix"),
        (
            "monai.GeneralizedWassersteinDiceLoss",
            r#"{"dist_matrix": [[0, 1], [1, 0]], "weighting_mode": "gdl"}"#,
            "weighting_mode",
        ),
        (
            "monai.GeneralizedWassersteinDiceLoss",
            r#"{"dist_matrix": [[0, 1], [1, 0]], "reduction": "none"}"#,
            "reduction",
        ),
    ] {
        let err = preset_error(name, params, 2);
        assert!(err.contains(needle), "{name} {params}: {err}");
    }
    let err = preset_error("monai.GeneralizedWassersteinDiceLoss", r#"{"dist_matrix": [[0, 1], [1, 0]]}"#, 3);
    assert!(err.contains("3 x 3"), "2x2 matrix for 3 classes: {err}");
}

/// The error of a preset built and run on a [1, C, 4, 4] batch of its kind.
fn preset_error(name: &str, params: &str, c: usize) -> String {
    let params: serde_json::Value = serde_json::from_str(params).unwrap();
    let preset = match Preset::parse(name, &params) {
        Ok(p) => p,
        Err(e) => return e.to_string(),
    };
    let logits = Array::Float(vec![1, c, 4, 4], vec![0.5; c * 16]);
    let targets = if name.contains("clDice") {
        Array::Float(vec![1, c, 4, 4], vec![1.0; c * 16])
    } else {
        Array::Int(vec![1, 4, 4], vec![0; 16])
    };
    let run = || -> segloss::Result<f64> {
        let parts = preset.parts(prediction_dims(logits.dims())?.c)?;
        Ok(evaluate(&Engine::cpu(), &parts, &logits, &targets, false)?.total)
    };
    match run() {
        Ok(v) => panic!("{name} {params} accepted with C = {c}: {v}"),
        Err(e) => e.to_string(),
    }
}
