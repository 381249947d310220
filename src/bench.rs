//! Benchmark workloads shared by `segloss bench` and the criterion benches: each segloss op
//! timed on the GPU's clock (timestamp queries around the compute passes, when the adapter
//! has them; host time around the whole blocking call otherwise, and labelled so), its bytes
//! moved, GB/s, and the ratio to the roofline kernels over the same bytes on the same adapter.
//!
//! Bytes: forward = the inputs once (logits 4 B per element + targets 4 B per pixel, or the
//! class map's bytes); forward + backward = the inputs twice + the gradient written (4 B per
//! element) — the minimum for a loss whose gradient needs global sums. Roofline: forward =
//! read-once reduce over the input bytes; forward + backward = reduce + copy (inputs read,
//! gradient written).

use crate::batch::{BinaryBatch, ClassMap, MulticlassBatch};
use crate::engine::Engine;
use crate::error::Result;
use crate::input::Input;
use crate::loss::{self, Loss};
use crate::plan::{BufferAt, LogitFormat, PlanDesc, PlanIo, TargetFormat};
use crate::term::Term;
use std::time::Instant;

/// One benchmark workload.
#[derive(Debug, Clone)]
pub struct Workload {
    /// Short name, e.g. "binary: 16 losses".
    pub name: String,
    /// N, C and the spatial dims (C = 1 for binary).
    pub shape: Vec<usize>,
    /// Multiclass (u8 class map) or binary (f32 targets).
    pub multiclass: bool,
    /// The terms requested.
    pub terms: Vec<Term>,
}

/// One measured row.
#[derive(Debug, Clone)]
pub struct Row {
    /// The workload's name.
    pub name: String,
    /// "NxCxHxW".
    pub size: String,
    /// "forward" or "forward+backward".
    pub pass: String,
    /// Median seconds per call.
    pub seconds: f64,
    /// Whether `seconds` is GPU time (timestamps) rather than host time.
    pub gpu_clock: bool,
    /// Bytes moved (see the module docs).
    pub bytes: u64,
    /// bytes / seconds / 1e9.
    pub gbps: f64,
    /// The roofline's seconds over the same bytes.
    pub roofline_seconds: f64,
    /// seconds / roofline_seconds.
    pub ratio: f64,
    /// Median seconds of the float64 reference for the same call, if measured.
    pub reference_seconds: Option<f64>,
}

impl Row {
    /// A row from its measurements; GB/s and the roofline ratio are derived.
    fn new(
        name: &str,
        size: String,
        pass: &str,
        (seconds, gpu_clock): (f64, bool),
        bytes: u64,
        roofline_seconds: f64,
        reference_seconds: Option<f64>,
    ) -> Row {
        Row {
            name: name.into(),
            size,
            pass: pass.into(),
            seconds,
            gpu_clock,
            bytes,
            gbps: bytes as f64 / seconds / 1e9,
            roofline_seconds,
            ratio: seconds / roofline_seconds,
            reference_seconds,
        }
    }
}

/// The workloads at image sides `sides` (8 images each; multiclass at half the side and
/// Lovasz softmax at a quarter when `scaled_down`, for software adapters). `segloss bench`
/// uses [256] (scaled down), `--full` [256, 512, 1024] at full size.
pub fn workloads(sides: &[usize], scaled_down: bool) -> Vec<Workload> {
    let quick = scaled_down;
    let all_binary: Vec<Term> = [
        Loss::Dice(loss::Dice::default()),
        Loss::Iou(loss::Iou::default()),
        Loss::Tversky(loss::Tversky::default()),
        Loss::Bce(loss::Bce::default()),
        Loss::BceDice(loss::BceDice::default()),
        Loss::Focal(loss::Focal::default()),
        Loss::Combo(loss::Combo::default()),
    ]
    .into_iter()
    .flat_map(|l| [l.batch(), l.per_image()])
    .collect();
    let dice = vec![Loss::Dice(loss::Dice::default()).batch()];
    let dice_ce = vec![Loss::DiceCe(loss::DiceCe::default()).per_image()];
    let hinge = vec![Loss::LovaszHinge(loss::LovaszHinge).per_image()];
    let softmax = vec![Loss::LovaszSoftmax(loss::LovaszSoftmax::default()).per_image()];
    let mut out = Vec::new();
    for &s in sides {
        out.push(Workload {
            name: format!("binary: {} losses", all_binary.len()),
            shape: vec![8, 1, s, s],
            multiclass: false,
            terms: all_binary.clone(),
        });
        out.push(Workload {
            name: "binary: dice".into(),
            shape: vec![8, 1, s, s],
            multiclass: false,
            terms: dice.clone(),
        });
        let mc = if quick { s / 2 } else { s };
        out.push(Workload {
            name: "multiclass C=19: dice+ce".into(),
            shape: vec![8, 19, mc, mc],
            multiclass: true,
            terms: dice_ce.clone(),
        });
        out.push(Workload {
            name: "lovasz hinge".into(),
            shape: vec![8, 1, s, s],
            multiclass: false,
            terms: hinge.clone(),
        });
        let ls = if quick { s / 4 } else { s };
        out.push(Workload {
            name: "lovasz softmax C=19".into(),
            shape: vec![8, 19, ls, ls],
            multiclass: true,
            terms: softmax.clone(),
        });
    }
    out
}

/// The pixels per image of a workload (the product of its spatial dims).
fn pixels(w: &Workload) -> usize {
    w.shape[2..].iter().product()
}

/// `NxCxHxW` (or more dims).
pub fn shape_label(shape: &[usize]) -> String {
    shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("x")
}

/// Deterministic inputs of a workload: logits and either f32 targets or a u8 class map.
pub fn inputs(w: &Workload) -> (Vec<f32>, Vec<f32>, Vec<u8>) {
    let (n, c, hw) = (w.shape[0], w.shape[1], pixels(w));
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32
    };
    let logits: Vec<f32> = (0..n * c * hw).map(|_| next() * 8.0 - 4.0).collect();
    if w.multiclass {
        let map: Vec<u8> = (0..n * hw).map(|_| (next() * c as f32) as u8 % c as u8).collect();
        (logits, Vec::new(), map)
    } else {
        let t: Vec<f32> = (0..n * hw).map(|_| (next() > 0.7) as u8 as f32).collect();
        (logits, t, Vec::new())
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Times `f` (after one warm-up): the median over `reps` runs of the engine's GPU time, or of
/// host time when the engine has no timestamps. Returns (seconds, gpu_clock).
pub fn time_call(engine: &Engine, reps: usize, mut f: impl FnMut() -> Result<()>) -> Result<(f64, bool)> {
    f()?;
    engine.take_gpu_time();
    let mut samples = Vec::new();
    let mut gpu = true;
    for _ in 0..reps.max(1) {
        let start = Instant::now();
        f()?;
        let host = start.elapsed().as_secs_f64();
        match engine.take_gpu_time() {
            Some(t) if t > 0.0 => samples.push(t),
            _ => {
                gpu = false;
                samples.push(host);
            }
        }
    }
    Ok((median(samples), gpu))
}

/// Measures one workload, forward and forward+backward, against the roofline (and the
/// reference when `reference` is set).
pub fn measure(engine: &Engine, w: &Workload, reps: usize, reference: bool) -> Result<Vec<Row>> {
    let (logits, targets, map) = inputs(w);
    let input = batch(w, &logits, &targets, &map)?;
    let pixels = (w.shape[0] * pixels(w)) as u64;
    let input_bytes = logits.len() as u64 * 4 + if w.multiclass { pixels } else { pixels * 4 };
    let grad_elems = logits.len() as u64;
    let (reduce, copy, _) = engine.roofline(input_bytes, grad_elems, reps)?;
    let cpu = Engine::cpu();
    let mut rows = Vec::new();
    for backward in [false, true] {
        let call = |e: &Engine| -> Result<()> {
            if backward {
                e.value_and_grad(input, &w.terms).map(|_| ())
            } else {
                e.forward(input, &w.terms).map(|_| ())
            }
        };
        let (seconds, gpu_clock) = time_call(engine, reps, || call(engine))?;
        let reference_seconds = if reference {
            let start = Instant::now();
            call(&cpu)?;
            Some(start.elapsed().as_secs_f64())
        } else {
            None
        };
        let bytes = if backward { 2 * input_bytes + grad_elems * 4 } else { input_bytes };
        let roofline_seconds = if backward { reduce + copy } else { reduce };
        let pass = if backward { "forward+backward" } else { "forward" };
        let size = shape_label(&w.shape);
        rows.push(Row::new(&w.name, size, pass, (seconds, gpu_clock), bytes, roofline_seconds, reference_seconds));
    }
    Ok(rows)
}

/// Times the GPU primitives alone over `n` elements: the radix sort of (key, value) pairs
/// (8 passes of 4 bits) and an exclusive scan, against the roofline over their bytes
/// (a sort pass reads and writes the pairs: 16 B per element per pass).
pub fn measure_primitives(engine: &Engine, n: usize, reps: usize) -> Result<Vec<Row>> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let keys: Vec<u32> = (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 32) as u32
        })
        .collect();
    let values: Vec<u32> = (0..n as u32).collect();
    let cpu = Engine::cpu();
    let mut rows = Vec::new();
    // Key passes of the strategy in use: 4-bit digits (Blocks) or 8-bit (Lanes).
    let sort_passes = if engine.info().sort == crate::SortStrategy::Lanes { 4u64 } else { 8 };
    for (name, passes, bytes_per_pass) in [("radix sort (u32 pairs)", sort_passes, 16u64), ("prefix scan (u32)", 1, 8)]
    {
        let call = |e: &Engine| -> Result<()> {
            if name.starts_with("radix") {
                e.sort_pairs(&keys, &values, usize::MAX).map(|_| ())
            } else {
                e.prefix_scan(&keys, false).map(|_| ())
            }
        };
        let (seconds, gpu_clock) = time_call(engine, reps, || call(engine))?;
        let start = Instant::now();
        call(&cpu)?;
        let reference_seconds = Some(start.elapsed().as_secs_f64());
        let bytes = passes * bytes_per_pass * n as u64;
        // Roofline: each pass reads its bytes once (half) and writes them (half).
        let (reduce, copy, _) = engine.roofline(bytes / passes / 2, (bytes / passes / 2) / 4, reps)?;
        let roofline_seconds = passes as f64 * (reduce + copy);
        rows.push(Row::new(
            name,
            n.to_string(),
            "primitive",
            (seconds, gpu_clock),
            bytes,
            roofline_seconds,
            reference_seconds,
        ));
    }
    Ok(rows)
}

/// Times plans encoded with the data already on the GPU (the training-loop case): forward,
/// GPU finalize and backward in one submission, for binary BCE-Dice at 8×1×side×side with
/// f32/f32, f16/f32, f32/u8 and f16/u8 logits/targets, and multiclass C=19 Dice+CE with a u8
/// class map. Bytes: the inputs twice (in their formats) + the f32 gradient.
pub fn measure_plans(engine: &Engine, side: usize, reps: usize) -> Result<Vec<Row>> {
    use wgpu::BufferUsages as U;
    let Some((device, queue)) = engine.device() else {
        return Err(crate::Error::InvalidRequest("plans run on a GPU engine".into()));
    };
    let upload = |bytes: &[u8]| {
        let b = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("bench input"),
            size: (bytes.len() as u64).next_multiple_of(4).max(16),
            usage: U::STORAGE | U::COPY_DST,
            mapped_at_creation: false,
        });
        let mut padded = bytes.to_vec();
        padded.resize(bytes.len().next_multiple_of(4), 0);
        queue.write_buffer(&b, 0, &padded);
        b
    };
    let bce_dice = vec![Loss::BceDice(loss::BceDice::default()).batch()];
    let mut cases: Vec<(String, PlanDesc, Vec<usize>)> = Vec::new();
    for (lf, tf) in [
        (LogitFormat::F32, TargetFormat::F32),
        (LogitFormat::F16, TargetFormat::F32),
        (LogitFormat::F32, TargetFormat::U8),
        (LogitFormat::F16, TargetFormat::U8),
    ] {
        let d = PlanDesc::binary(&[8, 1, side, side], bce_dice.clone())?.logit_format(lf).target_format(tf);
        let name = format!("plan bce-dice {}/{}", format!("{lf:?}").to_lowercase(), format!("{tf:?}").to_lowercase());
        cases.push((name, d, vec![8, 1, side, side]));
    }
    let mc = (side / 2).max(1);
    let dice_ce = vec![Loss::DiceCe(loss::DiceCe::default()).per_image()];
    let d = PlanDesc::multiclass(&[8, 19, mc, mc], TargetFormat::Classes8, dice_ce)?;
    cases.push(("plan C=19 dice+ce u8 map".into(), d, vec![8, 19, mc, mc]));
    let mut rows = Vec::new();
    for (name, desc, shape) in cases {
        let desc = desc.with_gradient();
        let workload = Workload { name: name.clone(), multiclass: shape[1] > 1, shape, terms: desc.terms.clone() };
        let (logits, targets, map) = inputs(&workload);
        let logit_bytes: Vec<u8> = match desc.logits {
            LogitFormat::F32 => bytemuck::cast_slice(&logits).to_vec(),
            LogitFormat::F16 => logits.iter().flat_map(|&v| half::f16::from_f32(v).to_le_bytes()).collect(),
        };
        let target_bytes: Vec<u8> = match desc.targets {
            TargetFormat::F32 => bytemuck::cast_slice(&targets).to_vec(),
            TargetFormat::U8 => targets.iter().map(|&t| t as u8).collect(),
            _ => map,
        };
        let (x, t) = (upload(&logit_bytes), upload(&target_bytes));
        let grad = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("bench grad"),
            size: desc.grad_bytes(),
            usage: U::STORAGE,
            mapped_at_creation: false,
        });
        let values = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("bench values"),
            size: desc.values_bytes().max(16),
            usage: U::COPY_DST,
            mapped_at_creation: false,
        });
        let plan = engine.plan(desc.clone())?;
        let io = PlanIo {
            logits: BufferAt::new(&x, 0),
            targets: BufferAt::new(&t, 0),
            values: BufferAt::new(&values, 0),
            grad: Some(BufferAt::new(&grad, 0)),
        };
        let input_bytes = logit_bytes.len() as u64 + target_bytes.len() as u64;
        let grad_elems = logits.len() as u64;
        let (reduce, copy, _) = engine.roofline(input_bytes, grad_elems, reps)?;
        let timing = time_call(engine, reps, || engine.submit_and_wait(|enc| plan.encode(enc, &io)))?;
        let size = shape_label(&workload.shape);
        let bytes = 2 * input_bytes + grad_elems * 4;
        rows.push(Row::new(&name, size, "encoded fwd+bwd", timing, bytes, reduce + copy, None));
    }
    Ok(rows)
}

/// The workloads timed side by side with PyTorch (PERFORMANCE.md, `segloss bench --versus`):
/// names the PyTorch script (`scripts/torch_versus.py`) maps to the peers' losses. `divide`
/// divides H and W (1: the full sizes).
pub fn versus_workloads(divide: usize) -> Vec<Workload> {
    let d = divide.max(1);
    let batch = |l: Loss| l.batch();
    let five = vec![
        batch(Loss::Dice(loss::Dice::default())),
        batch(Loss::Focal(loss::Focal::default())),
        batch(Loss::Iou(loss::Iou::default())),
        batch(Loss::Tversky(loss::Tversky::default())),
        batch(Loss::Bce(loss::Bce::default())),
    ];
    let binary = vec![8, 1, 512 / d, 512 / d];
    let classes = vec![4, 19, 256 / d, 512 / d];
    let images = vec![8, 1, 256 / d, 256 / d];
    let volumes = vec![2, 1, 64 / d, 128 / d, 128 / d];
    let w = |name: &str, shape: &Vec<usize>, multiclass: bool, terms: Vec<Term>| Workload {
        name: name.into(),
        shape: shape.clone(),
        multiclass,
        terms,
    };
    let hausdorff = || vec![Loss::HausdorffDt(loss::HausdorffDt::default()).per_image()];
    let cldice = || vec![Loss::ClDice(loss::ClDice::default()).per_image()];
    vec![
        w("dice", &binary, false, vec![batch(Loss::Dice(loss::Dice::default()))]),
        w("five_losses", &binary, false, five),
        w("lovasz_hinge", &binary, false, vec![Loss::LovaszHinge(loss::LovaszHinge).per_image()]),
        w("dice_mc", &classes, true, vec![batch(Loss::Dice(loss::Dice::default()))]),
        w("dice_ce_mc", &classes, true, vec![Loss::DiceCe(loss::DiceCe::default()).per_image()]),
        w("lovasz_softmax_mc", &classes, true, vec![batch(Loss::LovaszSoftmax(loss::LovaszSoftmax::default()))]),
        w("hausdorff_dt", &images, false, hausdorff()),
        w("hausdorff_dt_3d", &volumes, false, hausdorff()),
        w("boundary", &images, false, vec![Loss::Boundary(loss::Boundary).per_image()]),
        w("cldice", &images, false, cldice()),
        w("cldice_3d", &volumes, false, cldice()),
    ]
}

/// Host wall-clock seconds of one workload as a user sees them (upload and readback
/// included): forward, and forward + backward (`value_and_grad`).
#[derive(Debug, Clone)]
pub struct HostRow {
    /// The workload's name.
    pub name: String,
    /// N, C and the spatial dims.
    pub shape: Vec<usize>,
    /// Median seconds of `forward`.
    pub forward: f64,
    /// Median seconds of `value_and_grad`.
    pub forward_backward: f64,
}

/// The batch of a workload over its inputs (`inputs(w)`).
fn batch<'a>(w: &Workload, logits: &'a [f32], targets: &'a [f32], map: &'a [u8]) -> Result<Input<'a>> {
    Ok(if w.multiclass {
        Input::Multiclass(MulticlassBatch::new(logits, ClassMap::U8(map), &w.shape)?)
    } else {
        Input::Binary(BinaryBatch::new(logits, targets, &w.shape)?)
    })
}

/// Times `forward` and `value_and_grad` of `w` on `engine` with the host clock: the median of
/// `reps` calls after a warm-up.
pub fn measure_host(engine: &Engine, w: &Workload, reps: usize) -> Result<HostRow> {
    let (logits, targets, map) = inputs(w);
    let input = batch(w, &logits, &targets, &map)?;
    let host = |f: &dyn Fn() -> Result<()>| -> Result<f64> {
        f()?;
        let mut samples = Vec::new();
        for _ in 0..reps.max(1) {
            let start = Instant::now();
            f()?;
            samples.push(start.elapsed().as_secs_f64());
        }
        Ok(median(samples))
    };
    Ok(HostRow {
        name: w.name.clone(),
        shape: w.shape.clone(),
        forward: host(&|| engine.forward(input, &w.terms).map(|_| ()))?,
        forward_backward: host(&|| engine.value_and_grad(input, &w.terms).map(|_| ()))?,
    })
}
