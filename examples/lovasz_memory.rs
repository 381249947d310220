//! Lovasz softmax at the size, 8×19×512×1024, forward + backward on the GPU, with the
//! engine's own buffer accounting: prints the bytes of every buffer the call created against
//! the logits' bytes and fails if they exceed 4×. Slow on a software adapter (minutes).
//!
//! cargo run --release --example lovasz_memory [N C H W]
use segloss::*;
use std::time::Instant;

fn main() -> Result<()> {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let [n, c, h, w] = <[usize; 4]>::try_from(args).unwrap_or([8, 19, 512, 1024]);
    let mut state = 0x1234_5678_9abc_def0u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let labels: Vec<u8> = (0..n * h * w).map(|_| (next() % c as u64) as u8).collect();
    let logits: Vec<f32> =
        (0..n * c * h * w).map(|_| (next() >> 40) as f32 / (1u64 << 24) as f32 * 6.0 - 3.0).collect();
    let batch = MulticlassBatch::new(&logits, ClassMap::U8(&labels), &[n, c, h, w])?;
    let engine = Engine::new()?;
    println!("adapter: {} ({})", engine.info().name, engine.info().backend);
    let before = engine.bytes_allocated();
    let start = Instant::now();
    let out = engine.value_and_grad(&batch, &[Loss::LovaszSoftmax(LovaszSoftmax::default()).per_image()])?;
    let used = engine.bytes_allocated() - before;
    let input = (logits.len() * 4) as u64;
    println!(
        "{n}x{c}x{h}x{w}: loss {:.6}, {:.1} s; buffers created {:.1} MiB for {:.1} MiB of logits = {:.2}x",
        out.forward.values[0],
        start.elapsed().as_secs_f64(),
        used as f64 / 1048576.0,
        input as f64 / 1048576.0,
        used as f64 / input as f64
    );
    assert!(used <= 4 * input, "over the 4x budget");
    Ok(())
}
