//! Host wall clock of the distance transform: the GPU engine (upload, passes, readback) vs
//! the f64 reference, on 8×256×256 and 2×64×128×128 batches of ball-shaped masks.
//! `cargo run --release --example edt_timing`
use segloss::Engine;
use std::time::Instant;

fn balls(shape: &[usize]) -> Vec<u8> {
    let (n, d, h, w) =
        if shape.len() == 3 { (shape[0], 1, shape[1], shape[2]) } else { (shape[0], shape[1], shape[2], shape[3]) };
    let mut mask = Vec::with_capacity(n * d * h * w);
    for img in 0..n {
        let (cz, cy, cx) = (d as f64 / 2.0, h as f64 * (0.3 + 0.05 * img as f64), w as f64 / 2.0);
        let r = 0.35 * h.min(w) as f64;
        for z in 0..d {
            for y in 0..h {
                for x in 0..w {
                    let r2 = (z as f64 - cz).powi(2) + (y as f64 - cy).powi(2) + (x as f64 - cx).powi(2);
                    mask.push((r2 < r * r) as u8);
                }
            }
        }
    }
    mask
}

/// Median seconds of `reps` calls.
fn time(reps: usize, mut f: impl FnMut() -> Vec<f32>) -> (f64, Vec<f32>) {
    let mut out = f(); // warm-up (pipelines, pooled buffers)
    let mut t: Vec<f64> = (0..reps)
        .map(|_| {
            let start = Instant::now();
            out = f();
            start.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    (t[reps / 2], out)
}

fn main() -> segloss::Result<()> {
    let gpu = Engine::new()?;
    let cpu = Engine::cpu();
    println!("GPU: {} ({})", gpu.info().name, gpu.info().backend);
    for (shape, spacing) in [(vec![8usize, 256, 256], vec![1.0, 1.0]), (vec![2, 64, 128, 128], vec![1.0, 1.0, 1.0])] {
        let mask = balls(&shape);
        let (tg, g) = time(7, || gpu.squared_distance_transform(&mask, &shape, &spacing).unwrap());
        let (tc, c) = time(3, || cpu.squared_distance_transform(&mask, &shape, &spacing).unwrap());
        let equal = g == c;
        println!(
            "{shape:?}: GPU {:.2} ms, f64 reference {:.2} ms ({:.1}x), results equal: {equal}",
            tg * 1e3,
            tc * 1e3,
            tc / tg
        );
    }
    Ok(())
}
