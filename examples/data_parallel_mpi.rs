//! Data-parallel loss and gradient across processes on MPI: README.md's recipe ("Gradients and
//! data-parallel training"), run for real and checked against one process.
//!
//! Every rank builds the same deterministic batch of `IMAGES_PER_RANK · ranks` binary images
//! (odd size, blob masks of very different sizes from rank to rank, logits correlated with the
//! masks plus noise) and takes its shard: rank r gets images [2r, 2r + 2). Each rank then
//!
//! 1. computes its images' statistics (`Engine::stats`, one fused pass),
//! 2. all-gathers them over MPI as plain f64 (`Stats::to_array`: 13 numbers per image) and
//!    reads them back (`Stats::from_array`),
//! 3. evaluates the loss values from the global statistics (`segloss::evaluate`) and runs the
//!    backward pass of its own shard with them (`Engine::backward_with_stats`: no forward).
//!
//! The terms are a batch-aggregated Dice (one Dice over all the pixels of the batch: the loss
//! whose per-device mean is wrong) and a per-image focal loss (weight 0.5).
//!
//! Rank 0 gathers every rank's values and gradient shard, runs `value_and_grad` on the whole
//! batch in this one process and checks: every rank's every value within `VALUE_RTOL`
//! (relative) of the single-process value, and the concatenated gradient within `GRAD_TOL` of
//! the single-process gradient, measured as max |sharded − single| / max |single| (the
//! relative L2 difference is printed too). It also computes what a naive data-parallel
//! trainer would report, the mean of the per-rank batch Dice values (each rank's Dice of its
//! own shard), and requires it to differ from the true batch Dice by more than `MIN_NAIVE_GAP`.
//! Any failure prints a message and exits non-zero (`MPI_Abort`).
//!
//! The engine is the GPU (`Engine::new()`, the default adapter; `WGPU_BACKEND` chooses); pass
//! `--cpu` to use the float64 reference instead.
//!
//! cargo build --release --features mpi --example data_parallel_mpi
//! mpirun -np 4 target/release/examples/data_parallel_mpi
//! (as root: mpirun --allow-run-as-root; more ranks than cores: --oversubscribe)

use mpi::datatype::PartitionMut;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use segloss::{BinaryBatch, Dice, Engine, Focal, Layout, Loss, PixelParams, Stats, Term};
use std::error::Error;

/// Images in each rank's shard.
const IMAGES_PER_RANK: usize = 2;
/// Image height and width (odd, so no power-of-two layout hides an indexing error).
const H: usize = 37;
const W: usize = 41;
const SEED: u64 = 0x00da_7a9a_2a11;
/// Every rank's every loss value must be within this relative difference of one process's.
const VALUE_RTOL: f64 = 1e-6;
/// max |sharded − single| / max |single| of the gradient must be at most this.
const GRAD_TOL: f64 = 1e-6;
/// The mean of per-rank batch Dice values must be at least this far from the true batch Dice
/// (else the data do not show what the example is about).
const MIN_NAIVE_GAP: f64 = 1e-3;
/// Disk radius (pixels) of the blobs of a shard, by rank (cycled): shards with very
/// different foreground sizes.
const RADII: [f64; 4] = [15.0, 8.0, 4.0, 2.0];

type Res<T> = Result<T, Box<dyn Error>>;

/// splitmix64: a few lines, deterministic on every platform.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller).
    fn normal(&mut self) -> f64 {
        let u = 1.0 - self.uniform(); // (0, 1]
        let v = self.uniform();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// The whole batch, the same on every rank: `images` images of H×W, logits then targets.
/// Image i's foreground is one or two disks of radius about RADII[(i / IMAGES_PER_RANK) % 4];
/// its logits are ±2 (the target's sign) plus N(0, 1.5²) noise.
fn make_batch(images: usize) -> (Vec<f32>, Vec<f32>) {
    let mut rng = Rng(SEED);
    let mut logits = Vec::with_capacity(images * H * W);
    let mut targets = Vec::with_capacity(images * H * W);
    for i in 0..images {
        let r = RADII[(i / IMAGES_PER_RANK) % RADII.len()] * (0.8 + 0.4 * rng.uniform());
        let blobs = 1 + i % 2;
        let centres: Vec<(f64, f64)> = (0..blobs)
            .map(|_| {
                (r + (H as f64 - 2.0 * r).max(1.0) * rng.uniform(), r + (W as f64 - 2.0 * r).max(1.0) * rng.uniform())
            })
            .collect();
        for y in 0..H {
            for x in 0..W {
                let inside = centres.iter().any(|&(cy, cx)| (y as f64 - cy).powi(2) + (x as f64 - cx).powi(2) <= r * r);
                let t = if inside { 1.0 } else { 0.0 };
                targets.push(t as f32);
                logits.push((2.0 * (2.0 * t - 1.0) + 1.5 * rng.normal()) as f32);
            }
        }
    }
    (logits, targets)
}

/// The larger of `m` and `d`, NaN if either is (so a NaN is never hidden by a max).
fn worse(m: f64, d: f64) -> f64 {
    if d.is_nan() || d > m {
        d
    } else {
        m
    }
}

fn main() {
    let Some(universe) = mpi::initialize() else {
        eprintln!("data_parallel_mpi: MPI was already initialized");
        std::process::exit(1);
    };
    let world = universe.world();
    if let Err(e) = run(&world) {
        eprintln!("data_parallel_mpi: rank {}: FAILED: {e}", world.rank());
        world.abort(1);
    }
}

fn run(world: &SimpleCommunicator) -> Res<()> {
    let (rank, ranks) = (world.rank() as usize, world.size() as usize);
    let root = world.process_at_rank(0);
    if ranks < 2 {
        return Err("run with at least 2 ranks (mpirun -np 4 …): one rank has nothing to merge".into());
    }
    let n = IMAGES_PER_RANK * ranks;
    let hw = H * W;
    let (logits, targets) = make_batch(n);
    let first = rank * IMAGES_PER_RANK;
    let span = first * hw..(first + IMAGES_PER_RANK) * hw;
    let shard = BinaryBatch::new(&logits[span.clone()], &targets[span], &[IMAGES_PER_RANK, H, W])?;

    let engine = if std::env::args().any(|a| a == "--cpu") { Engine::cpu() } else { Engine::new()? };
    let dice = Loss::Dice(Dice::default()).batch();
    let terms: Vec<Term> = vec![dice.clone(), Loss::Focal(Focal::default()).per_image().weighted(0.5)];
    let pp = PixelParams::from_terms(&terms)?;

    // 1. This shard's statistics, one row per image, as plain numbers.
    let local = engine.stats(&shard, &pp)?;
    let send: Vec<f64> = local.iter().flat_map(Stats::to_array).collect();

    // 2. All-gather them: rank k's rows land at images [2k, 2k + 2), so `global` is the whole
    //    batch's rows in image order.
    let mut recv = vec![0.0f64; n * Stats::ARRAY_LEN];
    world.all_gather_into(&send[..], &mut recv[..]);
    let global = recv
        .chunks_exact(Stats::ARRAY_LEN)
        .map(|a| Stats::from_array(a.try_into().expect("chunks of ARRAY_LEN")))
        .collect::<segloss::Result<Vec<Stats>>>()?;

    // 3. The global values, and this shard's gradient of their weighted total.
    let (values, _) = segloss::evaluate(&terms, &global, &Layout::binary(n))?;
    let grad = engine.backward_with_stats(&shard, &terms, &global, first)?;
    if grad.len() != IMAGES_PER_RANK * hw {
        return Err(
            format!("backward_with_stats returned {} values for {} pixels", grad.len(), IMAGES_PER_RANK * hw).into()
        );
    }

    // What a naive trainer would average: this shard's own batch Dice.
    let (own, _) = segloss::evaluate(std::slice::from_ref(&dice), &local, &Layout::binary(IMAGES_PER_RANK))?;
    let foreground: f64 = local.iter().map(|s| s.st).sum();

    // Everything goes to rank 0: per rank its values, naive Dice and foreground, and its
    // gradient shard (a varcount gather, so shards of other sizes would work the same way).
    let mut report = values.clone();
    report.extend([own[0], foreground]);
    let counts: Vec<i32> = (0..ranks).map(|_| (IMAGES_PER_RANK * hw) as i32).collect();
    let displs: Vec<i32> = counts.iter().scan(0, |at, &c| Some(std::mem::replace(at, *at + c))).collect();
    if rank != 0 {
        root.gather_into(&report[..]);
        root.gather_varcount_into(&grad[..]);
        return Ok(());
    }
    let mut reports = vec![0.0f64; report.len() * ranks];
    root.gather_into_root(&report[..], &mut reports[..]);
    let mut gathered = vec![0.0f32; n * hw];
    root.gather_varcount_into_root(&grad[..], &mut PartitionMut::new(&mut gathered[..], counts, displs));

    // Rank 0: the same batch in one process.
    let whole = engine.value_and_grad(&BinaryBatch::new(&logits, &targets, &[n, H, W])?, &terms)?;
    let mut failures = Vec::new();
    println!(
        "data_parallel_mpi: {ranks} ranks, {n} images of {H}x{W} ({IMAGES_PER_RANK} per rank), engine: {} ({})",
        engine.info().name,
        engine.info().backend
    );
    println!("  {:<20} {:>18} {:>18} {:>10}", "term", "sharded (rank 0)", "single process", "worst rel");
    for (k, term) in terms.iter().enumerate() {
        let single = whole.forward.values[k];
        let worst = (0..ranks)
            .map(|r| (reports[r * report.len() + k] - single).abs() / single.abs().max(f64::MIN_POSITIVE))
            .fold(0.0, worse);
        let label = if term.weight == 1.0 { term.label() } else { format!("{} x{}", term.label(), term.weight) };
        println!("  {label:<20} {:>18.12} {single:>18.12} {worst:>10.1e}", values[k]);
        if worst.is_nan() || worst > VALUE_RTOL {
            failures.push(format!(
                "{}: a rank's value is {worst:.2e} (relative) from one process's (limit {VALUE_RTOL:e})",
                term.label()
            ));
        }
    }

    let max_ref = whole.grad.iter().fold(0.0f64, |m, &g| worse(m, g.abs() as f64));
    let (mut max_diff, mut diff2, mut ref2) = (0.0f64, 0.0f64, 0.0f64);
    for (&a, &b) in gathered.iter().zip(&whole.grad) {
        let d = (a as f64 - b as f64).abs();
        max_diff = worse(max_diff, d);
        diff2 += d * d;
        ref2 += (b as f64) * (b as f64);
    }
    let grad_rel = max_diff / max_ref.max(f64::MIN_POSITIVE);
    let grad_l2 = (diff2 / ref2.max(f64::MIN_POSITIVE)).sqrt();
    println!(
        "  gradient ({} values): max |sharded - single| / max |single| = {grad_rel:.1e} (limit {GRAD_TOL:e}); relative L2 = {grad_l2:.1e}",
        gathered.len()
    );
    if grad_rel.is_nan() || grad_rel > GRAD_TOL || max_ref == 0.0 {
        failures.push(format!("gradient: max |sharded - single| / max |single| = {grad_rel:.2e} (limit {GRAD_TOL:e}, max |single| = {max_ref:e})"));
    }

    let per_rank: Vec<(f64, f64)> = (0..ranks)
        .map(|r| (reports[r * report.len() + terms.len()], reports[r * report.len() + terms.len() + 1]))
        .collect();
    let naive = per_rank.iter().map(|p| p.0).sum::<f64>() / ranks as f64;
    let true_dice = whole.forward.values[0];
    for (r, (d, fg)) in per_rank.iter().enumerate() {
        println!("  rank {r}: foreground pixels {fg:>6}, batch Dice loss of its own shard {d:.6}");
    }
    println!(
        "  batch Dice loss: true (gathered stats) {true_dice:.6}, mean of per-rank values (naive) {naive:.6}, off by {:.6}",
        (naive - true_dice).abs()
    );
    if (naive - true_dice).abs().is_nan() || (naive - true_dice).abs() <= MIN_NAIVE_GAP {
        failures.push(format!(
            "the naive mean {naive} is within {MIN_NAIVE_GAP:e} of the true batch Dice {true_dice}: the data do not show the difference"
        ));
    }

    if !failures.is_empty() {
        return Err(failures.join("; ").into());
    }
    println!("data_parallel_mpi: OK (values within {VALUE_RTOL:e}, gradient within {GRAD_TOL:e}, naive mean off by more than {MIN_NAIVE_GAP:e})");
    Ok(())
}
