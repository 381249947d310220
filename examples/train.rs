//! A complete training loop that never leaves the GPU: a tiny segmentation model in this
//! example's own WGSL, trained with Adam on a segloss plan's BCE + Dice loss and gradient.
//!
//! The data are synthetic RGB images: reddish disks (the foreground) on a noisy bluish
//! background, made on the host once, a training set and a held-out set, and uploaded. The
//! model (examples/train/model.wgsl) is a 3×3 convolution to a few hidden channels, a ReLU and
//! a 1×1 convolution to one logit per pixel. Each step records, into one encoder and one
//! submission:
//!
//! 1. model forward (forward.wgsl): logits and hidden activations;
//! 2. [`segloss::Plan::encode`]: the loss values and their gradient with respect to the logits;
//! 3. model backward (param_grad.wgsl): the gradient with respect to every parameter;
//! 4. the Adam update (adam.wgsl).
//!
//! The host reads only the loss, every `PRINT_EVERY` steps, and at the end the held-out
//! logits, for the IoU of their masks (logit > 0). It exits non-zero unless the loss fell to
//! at most half its first value and the held-out IoU is at least `MIN_IOU`.
//!
//! cargo run --release --example train

use segloss::wgpu;
use segloss::{BceDice, BufferAt, Engine, Loss, PlanDesc, PlanIo};
use std::error::Error;
use std::time::Instant;
use wgpu::util::DeviceExt;
use wgpu::BufferUsages as U;

/// Images in each set (training and held-out).
const IMAGES: usize = 8;
/// Image width and height in pixels.
const SIDE: usize = 64;
/// The model's window is (2·RADIUS + 1)² pixels (RADIUS 1: a 3×3 convolution).
const RADIUS: usize = 1;
/// Hidden channels of the model.
const HIDDEN: usize = 8;
/// Inputs of each hidden unit: RGB of every pixel of the window.
const TAPS: usize = 3 * (2 * RADIUS + 1) * (2 * RADIUS + 1);
/// Parameters, laid out as model.wgsl says: W1 (HIDDEN × TAPS) | b1 (HIDDEN) | W2 (HIDDEN) | b2.
const PARAMS: usize = HIDDEN * (TAPS + 2) + 1;
const STEPS: usize = 100;
const PRINT_EVERY: usize = 20;
const LEARNING_RATE: f64 = 0.03;
const SEED: u64 = 0x5e61_0551;
/// The run fails unless the held-out IoU reaches this…
const MIN_IOU: f64 = 0.9;
/// …and the last printed loss is at most this fraction of the first.
const MAX_LOSS_RATIO: f32 = 0.5;

const MODEL_WGSL: &str = include_str!("train/model.wgsl");
const FORWARD_WGSL: &str = include_str!("train/forward.wgsl");
const PARAM_GRAD_WGSL: &str = include_str!("train/param_grad.wgsl");
const ADAM_WGSL: &str = include_str!("train/adam.wgsl");
/// Workgroup size of the three kernels.
const WG: usize = 64;
/// Pixels each thread of forward.wgsl and param_grad.wgsl runs: each thread reads the
/// parameters (forward) or writes its partial gradient (backward) once for all of them, which
/// matters most on a software adapter, where a storage access costs one load per SIMD lane.
const PIXELS_PER_THREAD: usize = 32;

fn main() -> Result<(), Box<dyn Error>> {
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapter = pollster::block_on(wgpu::util::initialize_adapter_from_env_or_default(&instance, None))?;
    let info = adapter.get_info();
    println!("adapter: {} ({:?})", info.name, info.backend);
    let (device, queue) = pollster::block_on(adapter.request_device(&Default::default()))?;

    // A validation error anywhere (a shader, a binding) becomes this function's Err.
    let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
    let report = train_and_evaluate(&device, &queue);
    if let Some(e) = pollster::block_on(scope.pop()) {
        return Err(format!("wgpu: {e}").into());
    }
    let report = report?;

    let (first, last) = (report.losses[0], report.losses[report.losses.len() - 1]);
    if last.1 > first.1 * MAX_LOSS_RATIO {
        return Err(format!(
            "the loss did not fall enough: {} at step {} vs {} at step {} (want ≤ {MAX_LOSS_RATIO}×)",
            last.1, last.0, first.1, first.0
        )
        .into());
    }
    if report.iou < MIN_IOU {
        return Err(format!("held-out IoU {:.4} is below {MIN_IOU}", report.iou).into());
    }
    Ok(())
}

/// What a run printed and is judged on.
struct Report {
    /// (step, loss) at every step the host read (never NaN).
    losses: Vec<(usize, f32)>,
    /// IoU of the predicted masks (logit > 0) of the held-out set.
    iou: f64,
}

/// Makes the data, trains, prints the loss every `PRINT_EVERY` steps and returns it with the
/// held-out IoU.
fn train_and_evaluate(device: &wgpu::Device, queue: &wgpu::Queue) -> Result<Report, Box<dyn Error>> {
    let mut rng = Rng(SEED);
    let train = Images::synthetic(&mut rng, IMAGES);
    let held_out = Images::synthetic(&mut rng, IMAGES);
    let params = initial_params(&mut rng);
    let pixels = IMAGES * SIDE * SIDE;

    let engine = Engine::from_device(device.clone(), queue.clone())?;
    let plan = engine.plan(
        PlanDesc::binary(&[IMAGES, 1, SIDE, SIDE], vec![Loss::BceDice(BceDice::default()).batch()])?.with_gradient(),
    )?;

    let init = |label: &str, contents: &[u8], usage: U| {
        device.create_buffer_init(&wgpu::util::BufferInitDescriptor { label: Some(label), contents, usage })
    };
    let empty = |label: &str, size: u64, usage: U| {
        device.create_buffer(&wgpu::BufferDescriptor { label: Some(label), size, usage, mapped_at_creation: false })
    };
    let train_images = init("train images", bytemuck::cast_slice(&train.pixels), U::STORAGE);
    let train_masks = init("train masks", bytemuck::cast_slice(&train.masks), U::STORAGE);
    let held_out_images = init("held-out images", bytemuck::cast_slice(&held_out.pixels), U::STORAGE);
    let params = init("params", bytemuck::cast_slice(&params), U::STORAGE);
    // forward.wgsl and param_grad.wgsl run PIXELS_PER_THREAD pixels a thread; param_grad
    // writes PARAMS partial sums of the gradient a thread.
    let groups = pixels.div_ceil(WG * PIXELS_PER_THREAD) as u32;
    let partials = empty("gradient partial sums", (groups as usize * WG * PARAMS * 4) as u64, U::STORAGE);
    // Adam's (m, v, β1^t, β2^t) per parameter.
    let adam_state = init("adam state", bytemuck::cast_slice(&vec![[0f32, 0.0, 1.0, 1.0]; PARAMS]), U::STORAGE);
    let hidden = empty("hidden", (pixels * HIDDEN * 4) as u64, U::STORAGE);
    let logits = empty("logits", plan.desc().logits_bytes(), U::STORAGE | U::COPY_SRC);
    let dlogits = empty("dlogits", plan.desc().grad_bytes(), U::STORAGE);
    let values = empty("loss values", plan.desc().values_bytes(), U::COPY_DST | U::COPY_SRC);
    let values_staging = empty("loss staging", plan.desc().values_bytes(), U::COPY_DST | U::MAP_READ);
    let logits_staging = empty("logits staging", plan.desc().logits_bytes(), U::COPY_DST | U::MAP_READ);

    let kernels = Kernels::new(device);
    let bind = |pipeline: &wgpu::ComputePipeline, buffers: &[&wgpu::Buffer]| {
        let entries: Vec<_> = buffers
            .iter()
            .enumerate()
            .map(|(i, b)| wgpu::BindGroupEntry { binding: i as u32, resource: b.as_entire_binding() })
            .collect();
        device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        })
    };
    let forward_train = bind(&kernels.forward, &[&train_images, &params, &hidden, &logits]);
    let forward_held_out = bind(&kernels.forward, &[&held_out_images, &params, &hidden, &logits]);
    let param_grad = bind(&kernels.param_grad, &[&train_images, &params, &hidden, &dlogits, &partials]);
    let adam = bind(&kernels.adam, &[&params, &partials, &adam_state]);
    let io = PlanIo {
        logits: BufferAt::new(&logits, 0),
        targets: BufferAt::new(&train_masks, 0),
        values: BufferAt::new(&values, 0),
        grad: Some(BufferAt::new(&dlogits, 0)),
    };

    let k = 2 * RADIUS + 1;
    println!(
        "training a {k}×{k} conv → {HIDDEN} ReLU → 1×1 conv model ({PARAMS} parameters) on {IMAGES} synthetic \
         {SIDE}×{SIDE} images: BCE + Dice, Adam lr {LEARNING_RATE}, {STEPS} steps"
    );
    let start = Instant::now();
    let mut losses = Vec::new();
    for step in 0..STEPS {
        let read = step % PRINT_EVERY == 0 || step + 1 == STEPS;
        let mut encoder = device.create_command_encoder(&Default::default());
        {
            let mut pass = compute_pass(&mut encoder, "model forward");
            dispatch(&mut pass, &kernels.forward, &forward_train, groups);
        }
        plan.encode(&mut encoder, &io)?;
        {
            let mut pass = compute_pass(&mut encoder, "model backward and Adam");
            dispatch(&mut pass, &kernels.param_grad, &param_grad, groups);
            dispatch(&mut pass, &kernels.adam, &adam, PARAMS.div_ceil(WG) as u32);
        }
        if read {
            encoder.copy_buffer_to_buffer(&values, 0, &values_staging, 0, None);
        }
        queue.submit([encoder.finish()]);
        if read {
            // values = [total, BCE-Dice term]: the total is the loss.
            let loss = read_f32(device, &values_staging)?[0];
            if loss.is_nan() {
                return Err(format!("step {step}: the loss is NaN (non-finite logits?)").into());
            }
            println!("step {step:4}  loss {loss:.5}");
            losses.push((step, loss));
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    println!("{STEPS} steps in {seconds:.2} s ({:.1} ms/step)", seconds * 1000.0 / STEPS as f64);

    let mut encoder = device.create_command_encoder(&Default::default());
    {
        let mut pass = compute_pass(&mut encoder, "held-out forward");
        dispatch(&mut pass, &kernels.forward, &forward_held_out, groups);
    }
    encoder.copy_buffer_to_buffer(&logits, 0, &logits_staging, 0, None);
    queue.submit([encoder.finish()]);
    let iou = iou(&read_f32(device, &logits_staging)?, &held_out.masks);
    println!("held-out IoU {iou:.4}");
    Ok(Report { losses, iou })
}

/// The example's three pipelines: the model's kernels with its sizes as WGSL `const`s ahead
/// of model.wgsl, Adam with its learning rate as a pipeline constant.
struct Kernels {
    forward: wgpu::ComputePipeline,
    param_grad: wgpu::ComputePipeline,
    adam: wgpu::ComputePipeline,
}

impl Kernels {
    fn new(device: &wgpu::Device) -> Kernels {
        let sizes = format!(
            "const RADIUS: u32 = {RADIUS}u;\nconst HIDDEN: u32 = {HIDDEN}u;\nconst WIDTH: u32 = {SIDE}u;\n\
             const HEIGHT: u32 = {SIDE}u;\nconst PIXELS_PER_THREAD: u32 = {PIXELS_PER_THREAD}u;\n"
        );
        let model = |kernel: &str| format!("{sizes}{MODEL_WGSL}\n{kernel}");
        let pipeline = |label: &str, source: &str, constants: &[(&str, f64)]| {
            let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(label),
                source: wgpu::ShaderSource::Wgsl(source.into()),
            });
            device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(label),
                layout: None,
                module: &module,
                entry_point: Some("main"),
                compilation_options: wgpu::PipelineCompilationOptions { constants, ..Default::default() },
                cache: None,
            })
        };
        Kernels {
            forward: pipeline("forward", &model(FORWARD_WGSL), &[]),
            param_grad: pipeline("param_grad", &model(PARAM_GRAD_WGSL), &[]),
            adam: pipeline("adam", ADAM_WGSL, &[("LR", LEARNING_RATE)]),
        }
    }
}

fn compute_pass<'e>(encoder: &'e mut wgpu::CommandEncoder, label: &str) -> wgpu::ComputePass<'e> {
    encoder.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some(label), timestamp_writes: None })
}

fn dispatch(pass: &mut wgpu::ComputePass, pipeline: &wgpu::ComputePipeline, bind: &wgpu::BindGroup, groups: u32) {
    pass.set_pipeline(pipeline);
    pass.set_bind_group(0, bind, &[]);
    pass.dispatch_workgroups(groups, 1, 1);
}

/// Maps `staging` (after the submission that filled it), waits, and returns its f32s.
fn read_f32(device: &wgpu::Device, staging: &wgpu::Buffer) -> Result<Vec<f32>, Box<dyn Error>> {
    let (tx, rx) = std::sync::mpsc::channel();
    staging.slice(..).map_async(wgpu::MapMode::Read, move |r| {
        let _ = tx.send(r);
    });
    device.poll(wgpu::PollType::wait_indefinitely())?;
    rx.recv()??;
    let data = bytemuck::pod_collect_to_vec(&staging.slice(..).get_mapped_range()?);
    staging.unmap();
    Ok(data)
}

/// IoU of the predicted foreground (logit > 0) with the masks, over all pixels of the set.
fn iou(logits: &[f32], masks: &[f32]) -> f64 {
    let (mut intersection, mut union) = (0usize, 0usize);
    for (&x, &t) in logits.iter().zip(masks) {
        let (predicted, actual) = (x > 0.0, t > 0.5);
        intersection += (predicted && actual) as usize;
        union += (predicted || actual) as usize;
    }
    intersection as f64 / union.max(1) as f64
}

/// Initial parameters in model.wgsl's order: He-uniform weights (fan-in TAPS for W1, HIDDEN
/// for W2), zero biases.
fn initial_params(rng: &mut Rng) -> Vec<f32> {
    let mut he = |fan_in: usize, count: usize| {
        let bound = (6.0 / fan_in as f32).sqrt();
        (0..count).map(|_| rng.range(-bound, bound)).collect::<Vec<f32>>()
    };
    let mut params = he(TAPS, HIDDEN * TAPS);
    params.extend(vec![0.0; HIDDEN]);
    params.extend(he(HIDDEN, HIDDEN));
    params.push(0.0);
    debug_assert_eq!(params.len(), PARAMS);
    params
}

/// Synthetic images with their masks.
struct Images {
    /// RGB per pixel, centred on 0 (the fourth lane is padding), image-major, row-major.
    pixels: Vec<[f32; 4]>,
    /// 1 inside a disk, 0 elsewhere.
    masks: Vec<f32>,
}

impl Images {
    /// Colour of the background and of the disks (before the per-image jitter and the noise).
    const BACKGROUND: [f32; 3] = [0.25, 0.35, 0.65];
    const DISK: [f32; 3] = [0.65, 0.35, 0.25];
    /// Per-image colour jitter (uniform ±) and per-pixel noise (standard deviation).
    const JITTER: f32 = 0.08;
    const NOISE: f32 = 0.12;

    /// `n` images of 2 to 4 disks (radius 5 to 13 pixels, anywhere, possibly overlapping or
    /// cut by the border), each disk and the background a jittered colour, plus Gaussian
    /// noise on every pixel.
    fn synthetic(rng: &mut Rng, n: usize) -> Images {
        let mut images = Images { pixels: Vec::with_capacity(n * SIDE * SIDE), masks: Vec::new() };
        for _ in 0..n {
            let background = jittered(rng, Self::BACKGROUND);
            let disks: Vec<([f32; 2], f32, [f32; 3])> = (0..2 + rng.below(3))
                .map(|_| {
                    let centre = [rng.range(0.0, SIDE as f32), rng.range(0.0, SIDE as f32)];
                    (centre, rng.range(5.0, 13.0), jittered(rng, Self::DISK))
                })
                .collect();
            for y in 0..SIDE {
                for x in 0..SIDE {
                    let inside = disks.iter().rev().find(|([cx, cy], r, _)| {
                        let (dx, dy) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
                        dx * dx + dy * dy <= r * r
                    });
                    let colour = inside.map_or(background, |d| d.2);
                    let [r, g, b] = colour.map(|c| c + Self::NOISE * rng.normal() - 0.5);
                    images.pixels.push([r, g, b, 0.0]);
                    images.masks.push(if inside.is_some() { 1.0 } else { 0.0 });
                }
            }
        }
        images
    }
}

fn jittered(rng: &mut Rng, colour: [f32; 3]) -> [f32; 3] {
    colour.map(|c| c + rng.range(-Images::JITTER, Images::JITTER))
}

/// SplitMix64: a small seeded generator, so every run sees the same data and initial model.
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
    fn uniform(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Uniform in [lo, hi).
    fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.uniform()
    }

    /// Uniform in 0..n.
    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Standard normal (Box–Muller).
    fn normal(&mut self) -> f32 {
        let (u1, u2) = (1.0 - self.uniform(), self.uniform());
        (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
    }
}
