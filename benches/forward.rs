//! Criterion benches: every binary loss at once and one alone, forward and forward+backward,
//! GPU and the float64 reference side by side. Times are host wall-clock of the blocking API
//! (upload and readback included). On a software adapter they measure the CPU, not a GPU.
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use segloss::*;

fn batch_data(n: usize, h: usize, w: usize) -> (Vec<f32>, Vec<f32>) {
    let mut s = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 40) as f32 / (1u64 << 24) as f32
    };
    (0..n * h * w).map(|_| (next() * 8.0 - 4.0, (next() > 0.7) as u8 as f32)).unzip()
}

fn terms_all() -> Vec<Term> {
    [
        Loss::Dice(Dice::default()),
        Loss::Iou(Iou::default()),
        Loss::Tversky(Tversky::default()),
        Loss::Bce(Bce::default()),
        Loss::Focal(Focal::default()),
        Loss::Combo(Combo::default()),
    ]
    .into_iter()
    .flat_map(|l| [l.batch(), l.per_image()])
    .collect()
}

fn bench(c: &mut Criterion) {
    let gpu = Engine::new().expect("benches need a GPU adapter");
    let cpu = Engine::cpu();
    let (n, h, w) = (8, 256, 256);
    let (x, t) = batch_data(n, h, w);
    let batch = BinaryBatch::new(&x, &t, &[n, h, w]).unwrap();
    let all = terms_all();
    let one = vec![Loss::Dice(Dice::default()).batch()];
    let mut g = c.benchmark_group(format!("binary {n}x{h}x{w} on {}", gpu.info().name));
    g.throughput(Throughput::Elements((n * h * w) as u64));
    g.sample_size(10);
    for (label, terms) in [("all losses", &all), ("dice only", &one)] {
        for (engine, name) in [(&gpu, "gpu"), (&cpu, "reference")] {
            g.bench_function(BenchmarkId::new(format!("forward {name}"), label), |b| {
                b.iter(|| engine.forward(&batch, terms).unwrap())
            });
            g.bench_function(BenchmarkId::new(format!("forward+backward {name}"), label), |b| {
                b.iter(|| engine.value_and_grad(&batch, terms).unwrap())
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
