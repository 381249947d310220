//! The metric conventions for empty masks, end to end (README: IoU, Dice, precision and
//! recall are 1 when prediction and target are both empty, 0 when only one of them is), through
//! the engine (GPU and reference; per image, pooled, per class, mean IoU) and through
//! `segloss eval`. Every expected number is counted by hand in the comments.
mod common;
use common::*;
use segloss::io::mask::write_gray_png;
use segloss::*;

use std::process::Command;

const ONE: [f64; 4] = [1.0, 1.0, 1.0, 1.0];
const ZERO: [f64; 4] = [0.0, 0.0, 0.0, 0.0];

/// (dice, iou, precision, recall)
fn m4(m: &Metrics) -> [f64; 4] {
    [m.dice, m.iou, m.precision, m.recall]
}

fn assert_m(what: &str, got: &Metrics, want: [f64; 4]) {
    let g = m4(got);
    for (k, (a, b)) in g.iter().zip(want).enumerate() {
        assert!(
            (a - b).abs() < 1e-12,
            "{what}: {} = {a}, want {b} (all: {g:?})",
            ["dice", "iou", "precision", "recall"][k]
        );
    }
}

fn engines() -> Vec<(&'static str, &'static Engine)> {
    static CPU: std::sync::OnceLock<Engine> = std::sync::OnceLock::new();
    vec![("gpu", shared_gpu()), ("reference", CPU.get_or_init(Engine::cpu))]
}

#[test]
fn binary_empty_mask_conventions_per_image_and_pooled() {
    let _serial = serial();
    let (n, h, w) = (4, 13, 17);
    let hw = h * w; // 221
    let mut x = vec![0f32; n * hw];
    let mut t = vec![0f32; n * hw];
    // Image 0: target empty, prediction empty (every logit −3 < 0)       → all 1.
    x[..hw].iter_mut().for_each(|v| *v = -3.0);
    // Image 1: target empty, 10 pixels predicted (logit +2, one of them logit 0 exactly:
    //          p = 0.5 ≥ 0.5 is predicted): FP = 10 → dice 0, iou 0, precision 0/10 = 0,
    //          recall 0/0 with a non-empty prediction → 0.
    for (i, v) in x[hw..2 * hw].iter_mut().enumerate() {
        *v = if i == 0 {
            0.0
        } else if i < 10 {
            2.0
        } else {
            -2.0
        };
    }
    // Image 2: 7 true pixels, nothing predicted: FN = 7                  → all 0.
    x[2 * hw..3 * hw].iter_mut().for_each(|v| *v = -2.0);
    t[2 * hw + 40..2 * hw + 47].iter_mut().for_each(|v| *v = 1.0);
    // Image 3: everything true and predicted: TP = 221                   → all 1.
    x[3 * hw..].iter_mut().for_each(|v| *v = 1.0);
    t[3 * hw..].iter_mut().for_each(|v| *v = 1.0);
    let batch = BinaryBatch::new(&x, &t, &[n, h, w]).unwrap();
    let terms = [Loss::Dice(Dice::default()).per_image(), Loss::Bce(Bce::default()).batch()];
    for (name, e) in engines() {
        let out = e.forward(&batch, &terms).unwrap();
        assert_eq!(out.per_image_metrics.len(), 4, "{name}");
        assert_m(&format!("{name} image 0 (both empty)"), &out.per_image_metrics[0], ONE);
        assert_m(&format!("{name} image 1 (target empty)"), &out.per_image_metrics[1], ZERO);
        assert_m(&format!("{name} image 2 (prediction empty)"), &out.per_image_metrics[2], ZERO);
        assert_m(&format!("{name} image 3 (both full)"), &out.per_image_metrics[3], ONE);
        // Pooled: TP 221, FP 10, FN 7.
        let pooled = [442.0 / 459.0, 221.0 / 238.0, 221.0 / 231.0, 221.0 / 228.0];
        assert_m(&format!("{name} pooled"), out.metrics.as_ref().unwrap(), pooled);
        let s = &out.stats;
        let counts: Vec<(u64, u64, u64)> = s.iter().map(|r| (r.hard_tp, r.hard_fp, r.hard_fn)).collect();
        assert_eq!(counts, vec![(0, 0, 0), (0, 10, 0), (0, 0, 7), (221, 0, 0)], "{name}");
    }
}

#[test]
fn an_all_background_batch_scores_one_and_has_hand_computed_losses() {
    let _serial = serial();
    let (n, h, w) = (3, 11, 23);
    let mut rng = Rng::new(0xb6);
    // Confident background: every logit in (−4, −1), so nothing is predicted.
    let x: Vec<f32> = (0..n * h * w).map(|_| (-1.0 - 3.0 * rng.uniform()) as f32).collect();
    let t = vec![0f32; n * h * w];
    let batch = BinaryBatch::new(&x, &t, &[n, h, w]).unwrap();
    let terms = [
        Loss::Dice(Dice::default()).batch(),
        Loss::Dice(Dice::default()).per_image(),
        Loss::Iou(Iou::default()).batch(),
        Loss::Bce(Bce::default()).batch(),
    ];
    // By hand, with Σt = TP = 0 and the seed's smoothing 1:
    //   Dice = 1 − (0 + 1)/(Σp + 0 + 1),  IoU = 1 − (0 + 1)/(Σp + 0 − 0 + 1),
    //   BCE = mean(−ln(1 − p)) = mean(ln(1 + e^x)).
    let p: Vec<f64> = x.iter().map(|&v| 1.0 / (1.0 + (-(v as f64)).exp())).collect();
    let sp: f64 = p.iter().sum();
    let hw = h * w;
    let per_image: f64 =
        (0..n).map(|i| 1.0 - 1.0 / (p[i * hw..(i + 1) * hw].iter().sum::<f64>() + 1.0)).sum::<f64>() / n as f64;
    let bce = x.iter().map(|&v| (v as f64).exp().ln_1p()).sum::<f64>() / x.len() as f64;
    let want = [1.0 - 1.0 / (sp + 1.0), per_image, 1.0 - 1.0 / (sp + 1.0), bce];
    for (name, e) in engines() {
        let out = e.forward(&batch, &terms).unwrap();
        for ((term, g), w) in terms.iter().zip(&out.values).zip(want) {
            assert!(close(*g, w, 1e-5, 0.0), "{name} {}: {g} vs {w}", term.label());
        }
        assert_m(&format!("{name} pooled"), out.metrics.as_ref().unwrap(), ONE);
        for (i, m) in out.per_image_metrics.iter().enumerate() {
            assert_m(&format!("{name} image {i}"), m, ONE);
        }
        assert_eq!(out.mean_iou, Some(1.0), "{name}: no class occurs → mean IoU 1");
    }
}

#[test]
fn multiclass_absent_and_unpredicted_classes() {
    let _serial = serial();
    // C = 4 on one 5×7 image (35 pixels, index i):
    //   target:     i < 15 → 0,  15 ≤ i < 30 → 1,  30 ≤ i < 35 → 3   (class 2 absent)
    //   prediction: i < 15 → 0,  15 ≤ i < 25 → 1,  25 ≤ i < 35 → 0   (class 3 never predicted)
    // class 0: TP 15, FP 10, FN 0  → dice 30/40, iou 15/25, precision 15/25, recall 1
    // class 1: TP 10, FP 0,  FN 5  → dice 20/25, iou 10/15, precision 1,     recall 10/15
    // class 2: nothing             → all 1 (both empty)
    // class 3: TP 0,  FP 0,  FN 5  → all 0 (only the target has it)
    // mean IoU over the classes that occur (0, 1, 3): (0.6 + 2/3 + 0)/3.
    let (c, h, w) = (4, 5, 7);
    let hw = h * w;
    let target: Vec<u32> = (0..hw)
        .map(|i| {
            if i < 15 {
                0
            } else if i < 30 {
                1
            } else {
                3
            }
        })
        .collect();
    let pred: Vec<usize> = (0..hw).map(|i| if (15..25).contains(&i) { 1 } else { 0 }).collect();
    let mut logits = vec![-1f32; c * hw];
    for i in 0..hw {
        logits[pred[i] * hw + i] = 2.0;
        logits[2 * hw + i] = -4.0;
    }
    let batch = MulticlassBatch::new(&logits, ClassMap::U32(&target), &[1, c, h, w]).unwrap();
    let terms = [Loss::CrossEntropy(CrossEntropy::default()).batch()];
    let want = [[30.0 / 40.0, 15.0 / 25.0, 15.0 / 25.0, 1.0], [20.0 / 25.0, 10.0 / 15.0, 1.0, 10.0 / 15.0], ONE, ZERO];
    for (name, e) in engines() {
        let out = e.forward(&batch, &terms).unwrap();
        assert_eq!(out.per_class_metrics.len(), c, "{name}");
        for (k, wk) in want.iter().enumerate() {
            assert_m(&format!("{name} class {k}"), &out.per_class_metrics[k], *wk);
        }
        let miou = out.mean_iou.unwrap();
        assert!((miou - (0.6 + 2.0 / 3.0) / 3.0).abs() < 1e-12, "{name}: mean IoU {miou}");
    }
}

fn segloss() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_segloss"));
    c.env("XDG_RUNTIME_DIR", std::env::var("XDG_RUNTIME_DIR").unwrap_or_else(|_| "/tmp".into()));
    c
}

fn metrics_of(v: &serde_json::Value, class: usize) -> [f64; 4] {
    let at = |k: &str| v[k][class].as_f64().unwrap_or_else(|| panic!("{k} in {v}"));
    [at("dice"), at("iou"), at("precision"), at("recall")]
}

#[test]
fn segloss_eval_applies_the_empty_mask_conventions() {
    let _serial = serial();
    let dir = std::env::temp_dir().join(format!("segloss-empty-eval-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for sub in ["a/pred", "a/gt", "b/pred", "b/gt"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let (h, w) = (9, 13);
    let hw = h * w; // 117
    let zeros = vec![0u16; hw];
    let mut some = vec![0u16; hw];
    some[20..26].iter_mut().for_each(|v| *v = 1); // 6 pixels
    let gt_some: Vec<u16> = some.iter().map(|&v| v * 255).collect();
    let png = |d: &str, name: &str, v: &[u16]| write_gray_png(&dir.join(d).join(name), w, h, v, 8, false).unwrap();
    // Dataset a: both empty / prediction only (6 FP) / target only (6 FN).
    png("a/pred", "both_empty.png", &zeros);
    png("a/gt", "both_empty.png", &zeros);
    png("a/pred", "pred_only.png", &some);
    png("a/gt", "pred_only.png", &zeros);
    png("a/pred", "gt_only.png", &zeros);
    png("a/gt", "gt_only.png", &gt_some);
    // Dataset b: two all-background images.
    for name in ["bg1.png", "bg2.png"] {
        png("b/pred", name, &zeros);
        png("b/gt", name, &zeros);
    }
    let run = |d: &str| -> serde_json::Value {
        let out = dir.join(format!("{d}.json"));
        let o = segloss()
            .args(["eval", "--pred", dir.join(d).join("pred").to_str().unwrap()])
            .args(["--gt", dir.join(d).join("gt").to_str().unwrap(), "--out", out.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_str(&std::fs::read_to_string(out).unwrap()).unwrap()
    };
    let a = run("a");
    let images = a["images"].as_array().unwrap();
    let by_name = |n: &str| &images.iter().find(|i| i["image"] == n).unwrap()["metrics"];
    // Foreground (class 1).
    assert_eq!(metrics_of(by_name("both_empty"), 1), ONE, "both empty");
    assert_eq!(metrics_of(by_name("pred_only"), 1), ZERO, "only the prediction has foreground");
    assert_eq!(metrics_of(by_name("gt_only"), 1), ZERO, "only the target has foreground");
    // Background (class 0) of pred_only: TP 111, FP 0, FN 6 (predicted foreground, truly background).
    let bg = metrics_of(by_name("pred_only"), 0);
    let want_bg = [222.0 / 228.0, 111.0 / 117.0, 1.0, 111.0 / 117.0];
    assert!(bg.iter().zip(want_bg).all(|(g, w)| (g - w).abs() < 1e-9), "{bg:?} vs {want_bg:?}");
    // Mean IoU of both_empty: only class 0 occurs (IoU 1) → 1.
    assert!((by_name("both_empty")["mean_iou"].as_f64().unwrap() - 1.0).abs() < 1e-12);
    // Pooled class 1: TP 0, FP 6, FN 6 → all 0; mean over images of class 1: (1 + 0 + 0)/3.
    assert_eq!(metrics_of(&a["dataset_pooled"], 1), ZERO);
    let mean = metrics_of(&a["mean_over_images"], 1);
    assert!(mean.iter().all(|v| (v - 1.0 / 3.0).abs() < 1e-9), "{mean:?}");
    let b = run("b");
    assert_eq!(metrics_of(&b["dataset_pooled"], 1), ONE, "all-background dataset, pooled");
    assert_eq!(metrics_of(&b["mean_over_images"], 1), ONE, "all-background dataset, mean over images");
    assert!((b["dataset_pooled"]["mean_iou"].as_f64().unwrap() - 1.0).abs() < 1e-12);
}
