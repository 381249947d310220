//! A small burn model trained with a segloss loss, on burn's wgpu device shared with segloss.
//!
//! The data are synthetic RGB images: reddish disks (the foreground) on a noisy bluish
//! background, a training set and a held-out set. The model is burn's own modules: a 3×3
//! convolution to 8 channels, a ReLU and a 1×1 convolution to one logit per pixel, trained
//! with burn's Adam on segloss's BCE + Dice. The loss's gradient comes from the same segloss
//! pass as its value and flows back through burn's autodiff; nothing but the printed loss and
//! the final held-out masks is read back.
//!
//! It exits non-zero unless the loss fell to at most half its first value and the held-out
//! IoU of the masks (logit > 0) is at least 0.9.
//!
//! cargo run --release -p segloss-burn --example train_burn

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::PaddingConfig2d;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{activation, Device, Tensor, TensorData};
use segloss::{BceDice, Loss};
use segloss_burn::SegLoss;
use std::error::Error;

const IMAGES: usize = 8;
const SIDE: usize = 64;
const HIDDEN: usize = 8;
const STEPS: usize = 150;
const PRINT_EVERY: usize = 25;
const LEARNING_RATE: f64 = 0.03;
const MIN_IOU: f64 = 0.9;
const MAX_LOSS_RATIO: f32 = 0.5;
const SEED: u64 = 0x5e61_0551;

#[derive(Module, Debug)]
struct Model {
    hidden: Conv2d,
    out: Conv2d,
}

impl Model {
    fn new(device: &Device) -> Model {
        Model {
            hidden: Conv2dConfig::new([3, HIDDEN], [3, 3]).with_padding(PaddingConfig2d::Same).init(device),
            out: Conv2dConfig::new([HIDDEN, 1], [1, 1]).init(device),
        }
    }

    fn forward(&self, images: Tensor<4>) -> Tensor<4> {
        self.out.forward(activation::relu(self.hidden.forward(images)))
    }
}

/// `IMAGES` images `[N, 3, SIDE, SIDE]` and their masks `[N, 1, SIDE, SIDE]`: one to three
/// disks each, reddish on a noisy bluish background.
fn blobs(seed: u64) -> (Vec<f32>, Vec<f32>) {
    let mut state = seed;
    let mut uniform = move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let plane = SIDE * SIDE;
    let mut images = vec![0f32; IMAGES * 3 * plane];
    let mut masks = vec![0f32; IMAGES * plane];
    for n in 0..IMAGES {
        let disks: Vec<(f64, f64, f64)> = (0..1 + (uniform() * 3.0) as usize)
            .map(|_| (8.0 + uniform() * 48.0, 8.0 + uniform() * 48.0, 5.0 + uniform() * 9.0))
            .collect();
        for y in 0..SIDE {
            for x in 0..SIDE {
                let inside =
                    disks.iter().any(|&(cx, cy, r)| (x as f64 - cx).powi(2) + (y as f64 - cy).powi(2) <= r * r);
                let p = y * SIDE + x;
                masks[n * plane + p] = inside as u8 as f32;
                let (r, g, b) = if inside { (0.8, 0.3, 0.2) } else { (0.2, 0.3, 0.7) };
                for (c, v) in [r, g, b].into_iter().enumerate() {
                    images[(n * 3 + c) * plane + p] = (v + 0.25 * (uniform() - 0.5)) as f32;
                }
            }
        }
    }
    (images, masks)
}

fn main() -> Result<(), Box<dyn Error>> {
    let device = segloss_burn::init()?.autodiff();
    // burn's initializers draw from the device's generator: seeded, the run repeats.
    device.seed(SEED);
    let upload = |data: Vec<f32>, channels: usize| {
        Tensor::<4>::from_data(TensorData::new(data, [IMAGES, channels, SIDE, SIDE]), &device)
    };
    let (train_x, train_y) = blobs(1);
    let (test_x, test_y) = blobs(2);
    let (train_x, train_y, test_x) = (upload(train_x, 3), upload(train_y, 1), upload(test_x, 3));

    let loss = SegLoss::binary(vec![Loss::BceDice(BceDice::default()).batch()]);
    let mut model = Model::new(&device);
    let mut optim = AdamConfig::new().init();
    let (mut first, mut last) = (None, 0f32);
    for step in 0..STEPS {
        let total = loss.forward(model.forward(train_x.clone()), train_y.clone())?;
        if step % PRINT_EVERY == 0 || step == STEPS - 1 {
            let value = total.clone().into_scalar::<f32>();
            println!("step {step:4}  loss {value:.4}");
            first.get_or_insert(value);
            last = value;
        }
        let grads = GradientsParams::from_grads(total.backward(), &model);
        model = optim.step(LEARNING_RATE, model, grads);
    }

    let logits = model.forward(test_x).into_data().convert::<f32>().try_to_vec::<f32>()?;
    let (mut inter, mut union) = (0usize, 0usize);
    for (l, t) in logits.iter().zip(&test_y) {
        let (p, t) = (*l > 0.0, *t > 0.5);
        inter += (p && t) as usize;
        union += (p || t) as usize;
    }
    let iou = inter as f64 / union.max(1) as f64;
    let first = first.unwrap_or(f32::NAN);
    println!("loss {first:.4} -> {last:.4} (ratio {:.3}); held-out IoU {iou:.4}", last / first);
    // A NaN loss fails too: it is not at most anything.
    let halved = last <= MAX_LOSS_RATIO * first;
    if !halved || iou < MIN_IOU {
        return Err(format!(
            "training did not converge: loss ratio {:.3} (at most {MAX_LOSS_RATIO}), held-out IoU {iou:.4} (at least {MIN_IOU})",
            last / first
        )
        .into());
    }
    println!("train_burn: OK");
    Ok(())
}
