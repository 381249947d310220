//! `segloss demo`: every loss and metric on a synthetic batch, GPU against the reference.

use segloss::*;
use std::time::Instant;

type Res<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// A deterministic synthetic batch: each image holds a few discs (the mask); the logits are
/// a blurred copy of the mask plus noise, like a half-trained model's output.
pub fn synthetic_batch(n: usize, h: usize, w: usize, seed: u64) -> (Vec<f32>, Vec<f32>) {
    let mut state = seed;
    let mut uniform = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut logits = Vec::with_capacity(n * h * w);
    let mut targets = Vec::with_capacity(n * h * w);
    for _ in 0..n {
        let discs: Vec<(f64, f64, f64)> = (0..3)
            .map(|_| (uniform() * h as f64, uniform() * w as f64, (0.05 + 0.12 * uniform()) * h.min(w) as f64))
            .collect();
        for i in 0..h {
            for j in 0..w {
                // Signed distance to the nearest disc edge, in pixels (negative inside).
                let d = discs
                    .iter()
                    .map(|&(cy, cx, r)| ((i as f64 - cy).hypot(j as f64 - cx)) - r)
                    .fold(f64::INFINITY, f64::min);
                targets.push(if d < 0.0 { 1.0 } else { 0.0 });
                let noise = (uniform() + uniform() + uniform() - 1.5) * 4.0;
                logits.push((-d / 4.0).clamp(-6.0, 6.0) as f32 + noise as f32);
            }
        }
    }
    (logits, targets)
}

/// Every loss of the catalogue with its defaults, both aggregations.
pub fn all_terms() -> Vec<Term> {
    [
        Loss::Dice(Dice::default()),
        Loss::Iou(Iou::default()),
        Loss::Tversky(Tversky::default()),
        Loss::Tversky(Tversky { alpha: 0.3, beta: 0.7, gamma: 0.75, ..Tversky::default() }),
        Loss::Bce(Bce::default()),
        Loss::BceDice(BceDice::default()),
        Loss::Focal(Focal::default()),
        Loss::Combo(Combo::default()),
    ]
    .into_iter()
    .flat_map(|l| [l.batch(), l.per_image()])
    .collect()
}

fn rel(a: f64, b: f64) -> f64 {
    if a == b {
        0.0
    } else {
        (a - b).abs() / b.abs().max(1e-300)
    }
}

pub fn run(n: usize, h: usize, w: usize) -> Res<()> {
    let (logits, targets) = synthetic_batch(n, h, w, 0x5e91);
    let batch = BinaryBatch::new(&logits, &targets, &[n, 1, h, w])?;
    let terms = all_terms();
    let gpu = Engine::new()?;
    let info = gpu.info();
    println!("segloss demo: {n} images of {h}x{w} (discs, noisy logits)");
    println!(
        "adapter: {} ({} backend, {} device{})",
        info.name,
        info.backend,
        info.device_type,
        if info.subgroups { ", subgroup reduction" } else { ", portable reduction" }
    );
    gpu.value_and_grad(&batch, &terms)?; // warm-up: pipelines, allocations
    let t0 = Instant::now();
    let g = gpu.forward(&batch, &terms)?;
    let gpu_fwd = t0.elapsed();
    let t0 = Instant::now();
    let gg = gpu.value_and_grad(&batch, &terms)?;
    let gpu_both = t0.elapsed();
    let cpu = Engine::cpu();
    let t0 = Instant::now();
    let r = cpu.forward(&batch, &terms)?;
    let ref_fwd = t0.elapsed();
    let rg = cpu.value_and_grad(&batch, &terms)?;
    println!();
    println!("{:<26} {:>16} {:>16} {:>10}", "loss", "GPU (f32)", "reference (f64)", "rel diff");
    let mut worst: f64 = 0.0;
    for ((term, a), b) in terms.iter().zip(&g.values).zip(&r.values) {
        worst = worst.max(rel(*a, *b));
        println!("{:<26} {:>16.9} {:>16.9} {:>10.1e}", term.label(), a, b, rel(*a, *b));
    }
    let (gm, rm) = (g.metrics.ok_or("no metrics")?, r.metrics.ok_or("no metrics")?);
    let metrics = [
        ("hard dice @0.5", gm.dice, rm.dice),
        ("hard iou @0.5", gm.iou, rm.iou),
        ("precision @0.5", gm.precision, rm.precision),
        ("recall @0.5", gm.recall, rm.recall),
    ];
    for (name, a, b) in metrics {
        worst = worst.max(rel(a, b));
        println!("{:<26} {:>16.9} {:>16.9} {:>10.1e}", name, a, b, rel(a, b));
    }
    let grad_rel = rel_l2(&gg.grad, &rg.grad);
    println!("{:<26} {:>16} {:>16} {:>10.1e}", "gradient of the sum (L2)", "", "", grad_rel);
    println!();
    let mpix = (n * h * w) as f64 / 1e6;
    println!(
        "time (host clock, upload and readback included): GPU forward {:.1} ms ({} pass), forward+backward {:.1} ms; \
         reference forward {:.1} ms  [{mpix:.1} Mpixel, {} losses]",
        gpu_fwd.as_secs_f64() * 1e3,
        g.dispatches.forward_passes,
        gpu_both.as_secs_f64() * 1e3,
        ref_fwd.as_secs_f64() * 1e3,
        terms.len()
    );
    if info.device_type == "Cpu" {
        println!("note: {} is a software adapter: these times are for correctness runs, not GPU speed", info.name);
    }
    let (mc_worst, mc_grad) = multiclass(&gpu, n.div_ceil(4), 19, h / 2, w / 2)?;
    let worst = worst.max(mc_worst);
    let grad_rel = grad_rel.max(mc_grad);
    if worst > 1e-5 || grad_rel > 1e-5 {
        return Err(
            format!("GPU and reference disagree: worst relative difference {worst:e}, gradient {grad_rel:e}").into()
        );
    }
    println!("all values within 1e-5 of the float64 reference");
    Ok(())
}

/// A synthetic multiclass batch: diagonal bands of classes, logits leaning to the truth,
/// every 97th diagonal ignored.
fn class_batch(n: usize, c: usize, h: usize, w: usize) -> (Vec<f32>, Vec<u8>) {
    let (mut logits, _) = synthetic_batch(n * c, h, w, 0xc1a55);
    let labels: Vec<u8> = (0..n * h * w)
        .map(|i| {
            let (img, row, col) = (i / (h * w), i / w % h, i % w);
            if (row + col) % 97 == 0 {
                255
            } else {
                ((row * c / h + img + col / (w / 3).max(1)) % c) as u8
            }
        })
        .collect();
    for (i, &k) in labels.iter().enumerate() {
        if k != 255 {
            let (img, pix) = (i / (h * w), i % (h * w));
            logits[(img * c + k as usize) * h * w + pix] += 8.0;
        }
    }
    (logits, labels)
}

/// Multiclass losses, mean IoU, confusion matrix and gradient, GPU against the reference;
/// returns the worst relative difference of the values and of the gradient.
fn multiclass(gpu: &Engine, n: usize, c: usize, h: usize, w: usize) -> Res<(f64, f64)> {
    let (logits, labels) = class_batch(n, c, h, w);
    let batch = MulticlassBatch::new(&logits, ClassMap::U8(&labels), &[n, c, h, w])?.ignore_index(255);
    let no_bg =
        ClassOptions { selection: ClassSelection::NoBackground, absent: AbsentClass::Skip, ..Default::default() };
    let terms = vec![
        Loss::Dice(Dice::default()).per_image().with_classes(no_bg.clone()),
        Loss::Iou(Iou::default()).batch().with_classes(no_bg),
        Loss::CrossEntropy(CrossEntropy { label_smoothing: 0.1, ..Default::default() }).batch(),
        Loss::DiceCe(DiceCe::default()).per_image(),
        Loss::Focal(Focal::default()).batch(),
        Loss::GeneralizedDice(GeneralizedDice::default()).per_image(),
    ];
    let t0 = Instant::now();
    let g = gpu.value_and_grad(&batch, &terms)?;
    let gpu_time = t0.elapsed();
    let r = Engine::cpu().value_and_grad(&batch, &terms)?;
    println!();
    println!("multiclass: {n} images of {h}x{w}, {c} classes, u8 labels with ignore_index 255");
    println!("{:<26} {:>16} {:>16} {:>10}", "loss", "GPU (f32)", "reference (f64)", "rel diff");
    let mut worst: f64 = 0.0;
    let (g_iou, r_iou) = (g.forward.mean_iou.ok_or("no metrics")?, r.forward.mean_iou.ok_or("no metrics")?);
    let rows = terms.iter().map(Term::label).zip(g.forward.values.iter().zip(&r.forward.values));
    for (label, (a, b)) in rows.chain([("mean IoU (argmax)".to_string(), (&g_iou, &r_iou))]) {
        worst = worst.max(rel(*a, *b));
        println!("{:<26} {:>16.9} {:>16.9} {:>10.1e}", label, a, b, rel(*a, *b));
    }
    let same = g.forward.confusion == r.forward.confusion;
    println!("{:<26} {:>16}", format!("confusion matrix {c}x{c}"), if same { "equal" } else { "DIFFERENT" });
    if !same {
        worst = f64::INFINITY;
    }
    let grad_rel = rel_l2(&g.grad, &r.grad);
    println!("{:<26} {:>16} {:>16} {:>10.1e}", "gradient of the sum (L2)", "", "", grad_rel);
    println!(
        "time (host clock, upload and readback included): GPU forward+backward {:.1} ms ({} + {} passes)",
        gpu_time.as_secs_f64() * 1e3,
        g.forward.dispatches.forward_passes,
        g.forward.dispatches.backward_passes
    );
    Ok((worst, grad_rel))
}

/// ‖a − b‖₂ / ‖b‖₂.
fn rel_l2(a: &[f32], b: &[f32]) -> f64 {
    let (mut d2, mut r2) = (0.0f64, 0.0f64);
    for (x, y) in a.iter().zip(b) {
        d2 += (*x as f64 - *y as f64).powi(2);
        r2 += (*y as f64).powi(2);
    }
    d2.sqrt() / r2.sqrt().max(1e-300)
}
