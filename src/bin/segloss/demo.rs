//! `segloss demo`: every loss and metric on a synthetic batch, GPU against the reference.

use segloss::*;
use std::time::Instant;

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

pub fn run(n: usize, h: usize, w: usize) -> std::result::Result<(), Box<dyn std::error::Error>> {
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
    let metrics = [
        ("hard dice @0.5", g.metrics.dice, r.metrics.dice),
        ("hard iou @0.5", g.metrics.iou, r.metrics.iou),
        ("precision @0.5", g.metrics.precision, r.metrics.precision),
        ("recall @0.5", g.metrics.recall, r.metrics.recall),
    ];
    for (name, a, b) in metrics {
        worst = worst.max(rel(a, b));
        println!("{:<26} {:>16.9} {:>16.9} {:>10.1e}", name, a, b, rel(a, b));
    }
    let (mut d2, mut r2) = (0.0f64, 0.0f64);
    for (a, b) in gg.grad.iter().zip(&rg.grad) {
        d2 += (*a as f64 - *b as f64).powi(2);
        r2 += (*b as f64).powi(2);
    }
    let grad_rel = d2.sqrt() / r2.sqrt().max(1e-300);
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
    if worst > 1e-5 || grad_rel > 1e-5 {
        return Err(
            format!("GPU and reference disagree: worst relative difference {worst:e}, gradient {grad_rel:e}").into()
        );
    }
    println!("all values within 1e-5 of the float64 reference");
    Ok(())
}
