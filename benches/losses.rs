//! Criterion benches of every segloss op, GPU and the float64 reference side by side, with
//! the roofline kernels over the same bytes.
//!
//! GPU rows are timed with `iter_custom` on the GPU's clock: the sum of the compute passes'
//! timestamp intervals (upload and readback excluded) when the adapter has
//! `TIMESTAMP_QUERY`; otherwise host time of the blocking call (upload and readback
//! included). Reference rows are host time. Sizes: `SEGLOSS_BENCH_FULL=1` runs 8 images of
//! 256² to 1024²; the default is sized for a software adapter.
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use segloss::bench::{inputs, workloads};
use segloss::*;
use std::time::{Duration, Instant};

fn bench(c: &mut Criterion) {
    let gpu = Engine::with_options(EngineOptions { profile: true, ..Default::default() })
        .expect("benches need a GPU adapter");
    let cpu = Engine::cpu();
    let full = std::env::var("SEGLOSS_BENCH_FULL").is_ok_and(|v| v == "1");
    let sides: &[usize] = if full { &[256, 512, 1024] } else { &[256] };
    for w in workloads(sides, !full) {
        let [n, ch, h, wd] = w.shape[..] else { panic!("an image workload: {:?}", w.shape) };
        let (logits, targets, map) = inputs(&w);
        let input: Input = if w.multiclass {
            Input::Multiclass(MulticlassBatch::new(&logits, ClassMap::U8(&map), &w.shape).unwrap())
        } else {
            Input::Binary(BinaryBatch::new(&logits, &targets, &w.shape).unwrap())
        };
        let pixels = (n * h * wd) as u64;
        let input_bytes = logits.len() as u64 * 4 + if w.multiclass { pixels } else { pixels * 4 };
        let mut g = c.benchmark_group(format!("{} {n}x{ch}x{h}x{wd}", w.name));
        g.sample_size(10);
        g.warm_up_time(Duration::from_millis(500));
        g.measurement_time(Duration::from_secs(3));
        for backward in [false, true] {
            let pass = if backward { "forward+backward" } else { "forward" };
            let bytes = if backward { 2 * input_bytes + logits.len() as u64 * 4 } else { input_bytes };
            g.throughput(Throughput::Bytes(bytes));
            let run = |e: &Engine| {
                if backward {
                    e.value_and_grad(input, &w.terms).map(|_| ()).unwrap()
                } else {
                    e.forward(input, &w.terms).map(|_| ()).unwrap()
                }
            };
            g.bench_function(BenchmarkId::new("gpu", pass), |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        gpu.take_gpu_time();
                        let start = Instant::now();
                        run(&gpu);
                        let host = start.elapsed();
                        total += gpu.take_gpu_time().map_or(host, Duration::from_secs_f64);
                    }
                    total
                })
            });
            g.bench_function(BenchmarkId::new("roofline", pass), |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let (reduce, copy, _) = gpu.roofline(input_bytes, logits.len() as u64, 1).unwrap();
                        total += Duration::from_secs_f64(if backward { reduce + copy } else { reduce });
                    }
                    total
                })
            });
            if h <= 256 {
                g.bench_function(BenchmarkId::new("f64 reference", pass), |b| b.iter(|| run(&cpu)));
            }
        }
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
