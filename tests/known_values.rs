//! The loss formulas checked against independent, elementwise transcriptions of their
//! definitions (the seed's PyTorch code with its errata fixed, torchvision's focal loss,
//! Taghanaki's Combo), written here as plain loops over probabilities — not through
//! segloss's sums — and against a few values worked out by hand.
mod common;
use common::*;
use segloss::*;

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

struct Case {
    x: Vec<f32>,
    t: Vec<f32>,
    n: usize,
    hw: usize,
}

impl Case {
    fn images(&self) -> Vec<(Vec<f64>, Vec<f64>)> {
        (0..self.n)
            .map(|i| {
                let r = i * self.hw..(i + 1) * self.hw;
                (
                    self.x[r.clone()].iter().map(|&v| sigmoid(v as f64)).collect(),
                    self.t[r].iter().map(|&v| v as f64).collect(),
                )
            })
            .collect()
    }
    fn flat(&self) -> (Vec<f64>, Vec<f64>) {
        (self.x.iter().map(|&v| sigmoid(v as f64)).collect(), self.t.iter().map(|&v| v as f64).collect())
    }
}

/// An elementwise definition: loss of (probabilities, targets).
type Definition = Box<dyn Fn(&[f64], &[f64]) -> f64>;

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
fn sum(a: &[f64]) -> f64 {
    a.iter().sum()
}

fn dice(p: &[f64], t: &[f64], s: f64) -> f64 {
    1.0 - (2.0 * dot(p, t) + s) / (sum(p) + sum(t) + s)
}
fn iou(p: &[f64], t: &[f64], s: f64) -> f64 {
    let i = dot(p, t);
    1.0 - (i + s) / (sum(p) + sum(t) - i + s)
}
fn tversky(p: &[f64], t: &[f64], a: f64, b: f64, s: f64, g: f64) -> f64 {
    let tp = dot(p, t);
    let fp: f64 = p.iter().zip(t).map(|(p, t)| (1.0 - t) * p).sum();
    let fn_: f64 = p.iter().zip(t).map(|(p, t)| t * (1.0 - p)).sum();
    (1.0 - (tp + s) / (tp + a * fp + b * fn_ + s)).powf(g)
}
fn bce(p: &[f64], t: &[f64]) -> f64 {
    p.iter().zip(t).map(|(p, t)| -(t * p.ln() + (1.0 - t) * (1.0 - p).ln())).sum::<f64>() / p.len() as f64
}
fn focal(p: &[f64], t: &[f64], alpha: f64, gamma: f64) -> f64 {
    p.iter()
        .zip(t)
        .map(|(p, t)| {
            let ce = -(t * p.ln() + (1.0 - t) * (1.0 - p).ln());
            let pt = p * t + (1.0 - p) * (1.0 - t);
            (alpha * t + (1.0 - alpha) * (1.0 - t)) * (1.0 - pt).powf(gamma) * ce
        })
        .sum::<f64>()
        / p.len() as f64
}
fn combo(p: &[f64], t: &[f64], a: f64, b: f64, s: f64) -> f64 {
    let wce = p.iter().zip(t).map(|(p, t)| -(b * t * p.ln() + (1.0 - b) * (1.0 - t) * (1.0 - p).ln())).sum::<f64>()
        / p.len() as f64;
    let d = (2.0 * dot(p, t) + s) / (sum(p) + sum(t) + s);
    a * wce - (1.0 - a) * d
}

#[test]
fn losses_equal_their_elementwise_definitions() {
    let mut rng = Rng::new(2024);
    for mask in [Mask::Hard, Mask::Soft] {
        let (n, h, w) = (3, 17, 19);
        let (x, t) = make_case(&mut rng, n, h, w, mask, 1.5);
        let case = Case { x, t, n, hw: h * w };
        let batch = BinaryBatch::new(&case.x, &case.t, &[n, h, w]).unwrap();
        let (p, tt) = case.flat();
        let imgs = case.images();
        let per_image = |f: &dyn Fn(&[f64], &[f64]) -> f64| imgs.iter().map(|(p, t)| f(p, t)).sum::<f64>() / n as f64;
        let checks: Vec<(Loss, Definition)> = vec![
            (Loss::Dice(Dice::default()), Box::new(|p, t| dice(p, t, 1.0))),
            (Loss::Iou(Iou::default()), Box::new(|p, t| iou(p, t, 1.0))),
            (Loss::Tversky(Tversky::default()), Box::new(|p, t| tversky(p, t, 0.5, 0.5, 1.0, 1.0))),
            (
                Loss::Tversky(Tversky { alpha: 0.3, beta: 0.7, smooth: 0.5, gamma: 0.75, ..Tversky::default() }),
                Box::new(|p, t| tversky(p, t, 0.3, 0.7, 0.5, 0.75)),
            ),
            (Loss::Bce(Bce::default()), Box::new(bce)),
            (Loss::BceDice(BceDice::default()), Box::new(|p, t| bce(p, t) + dice(p, t, 1.0))),
            (Loss::Focal(Focal::default()), Box::new(|p, t| focal(p, t, 0.8, 2.0))),
            (
                Loss::Focal(Focal { alpha: Some(0.25), gamma: 0.5, reduction: Reduction::Mean, ..Focal::default() }),
                Box::new(|p, t| focal(p, t, 0.25, 0.5)),
            ),
            (Loss::Combo(Combo::default()), Box::new(|p, t| combo(p, t, 0.5, 0.5, 1.0))),
            (
                Loss::Combo(Combo { ce_ratio: 0.3, beta: 0.7, smooth: 1.0, eps: 1e-7 }),
                Box::new(|p, t| combo(p, t, 0.3, 0.7, 1.0)),
            ),
        ];
        for (loss, f) in &checks {
            let got = Engine::cpu().forward(&batch, &[loss.batch(), loss.per_image()]).unwrap();
            let (want_batch, want_img) = (f(&p, &tt), per_image(f.as_ref()));
            assert!(
                close(got.values[0], want_batch, 1e-12, 1e-14),
                "{} batch: {} vs {want_batch}",
                loss.name(),
                got.values[0]
            );
            assert!(
                close(got.values[1], want_img, 1e-12, 1e-14),
                "{} per image: {} vs {want_img}",
                loss.name(),
                got.values[1]
            );
        }
    }
}

#[test]
fn hand_worked_values() {
    // p = (0.5, 0.5, 1, 0) from logits (0, 0, +inf-ish, −inf-ish) as probabilities; t = (1, 0, 1, 0).
    let p = [0.5f32, 0.5, 1.0, 0.0];
    let t = [1.0f32, 0.0, 1.0, 0.0];
    let batch = BinaryBatch::new(&p, &t, &[1, 2, 2]).unwrap().probabilities();
    let out = Engine::cpu()
        .forward(
            &batch,
            &[
                Loss::Dice(Dice::default().smooth(0.0)).batch(),
                Loss::Iou(Iou { smooth: 0.0, eps: 1e-7 }).batch(),
                Loss::Tversky(Tversky { alpha: 1.0, beta: 0.0, smooth: 0.0, ..Tversky::default() }).batch(),
            ],
        )
        .unwrap();
    // TP = 1.5, Σp = 2, Σt = 2: Dice = 3/4, IoU = 1.5/2.5, Tversky(α=1, β=0) = TP/(TP+FP) = 1.5/2.
    assert!((out.values[0] - 0.25).abs() < 1e-15);
    assert!((out.values[1] - 0.4).abs() < 1e-15);
    assert!((out.values[2] - 0.25).abs() < 1e-15);
    // Thresholded at 0.5 (p ≥ 0.5 positive): predictions (1, 1, 1, 0) → TP 2, FP 1, FN 0.
    let m = out.metrics.unwrap();
    assert_eq!(m, Metrics::from_counts(2, 1, 0));
    assert!((m.iou - 2.0 / 3.0).abs() < 1e-15 && m.recall == 1.0);
    // BCE of a perfect confident prediction is 0; p = 0 with t = 1 is clamped at 100 (PyTorch).
    let b = |p: f32, t: f32| {
        let batch =
            BinaryBatch::new(std::slice::from_ref(&p), std::slice::from_ref(&t), &[1, 1, 1]).unwrap().probabilities();
        Engine::cpu().forward(&batch, &[Loss::Bce(Bce::default()).batch()]).unwrap().values[0]
    };
    assert_eq!(b(1.0, 1.0), 0.0);
    assert_eq!(b(0.0, 1.0), 100.0);
    assert!((b(0.5, 1.0) - std::f64::consts::LN_2).abs() < 1e-15);
}

#[test]
fn empty_segments_count_nowhere() {
    // Image 1 fully ignored: per-image losses average over image 0 alone.
    let x = [1.0f32, -1.0, 2.0, 0.5, 3.0, 3.0, 3.0, 3.0];
    let t = [1.0f32, 0.0, 1.0, 0.0, 9.0, 9.0, 9.0, 9.0];
    let both = BinaryBatch::new(&x, &t, &[2, 2, 2]).unwrap().ignore_value(9.0).unwrap();
    let first = BinaryBatch::new(&x[..4], &t[..4], &[1, 2, 2]).unwrap();
    let terms: Vec<Term> = common::requests()[0].clone();
    let a = Engine::cpu().forward(&both, &terms).unwrap();
    let b = Engine::cpu().forward(&first, &terms).unwrap();
    for (u, v) in a.values.iter().zip(&b.values) {
        assert!(close(*u, *v, 1e-14, 1e-15), "{u} vs {v}");
    }
    // Everything ignored: every loss is 0 and every gradient exactly 0.
    let none = BinaryBatch::new(&x[4..], &t[4..], &[1, 2, 2]).unwrap().ignore_value(9.0).unwrap();
    let out = Engine::cpu().value_and_grad(&none, &terms).unwrap();
    assert!(out.forward.values.iter().all(|&v| v == 0.0));
    assert!(out.grad.iter().all(|&g| g == 0.0));
}
