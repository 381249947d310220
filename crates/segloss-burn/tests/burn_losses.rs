//! segloss-burn on lavapipe (or whatever adapter burn picks) against segloss's float64
//! reference: values, gradients through burn's autodiff, f16 logits, class maps of the
//! integer types burn's wgpu backend stores, burn's default memory pages (logits and gradient in one buffer), fusion on,
//! and the refusals.

use burn::tensor::{Device, FloatDType, Int, IntDType, Tensor, TensorData};
use segloss::{BceDice, ClassMap, Dice, DiceCe, Engine, Focal, Iou, Loss, MulticlassBatch, Term, Tversky};
use segloss_burn::{Error, SegLoss};
use std::sync::{Arc, OnceLock};

/// The shared device (burn's runtime can be brought up once per process).
fn device() -> Device {
    static DEVICE: OnceLock<Device> = OnceLock::new();
    DEVICE.get_or_init(|| segloss_burn::init().expect("burn's wgpu runtime and a segloss engine")).clone()
}

#[test]
fn burn_and_segloss_share_the_adapter_that_wgpu_backend_names() {
    let info = segloss_burn::engine(&device()).unwrap().info().clone();
    println!("segloss-burn on {} ({}, {})", info.name, info.backend, info.device_type);
    if let Ok(wanted) = std::env::var("WGPU_BACKEND") {
        assert!(
            info.backend.eq_ignore_ascii_case(&wanted),
            "WGPU_BACKEND={wanted} but burn brought up {}",
            info.backend
        );
    }
    // The autodiff device is the same device.
    assert!(Arc::ptr_eq(
        &segloss_burn::engine(&device().autodiff()).unwrap(),
        &segloss_burn::engine(&device()).unwrap()
    ));
}

struct Rng(u64);
impl Rng {
    fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform().max(1e-12), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

fn floats<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

/// max |a − b| / max(1, max |b|).
fn rel_err(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(1e-30f64, |m, &x| m.max((x as f64).abs()));
    let worst = a.iter().zip(b).fold(0f64, |m, (&x, &y)| m.max((x as f64 - y as f64).abs()));
    worst / scale
}

fn binary_terms() -> Vec<Term> {
    vec![
        Loss::BceDice(BceDice::default()).batch(),
        Loss::Focal(Focal::default()).per_image().weighted(0.5),
        Loss::Tversky(Tversky::default()).batch().weighted(0.25),
    ]
}

/// Logits and 0/1 targets of `dims`; the last image's target all background.
fn binary_data(dims: [usize; 4], seed: u64) -> (Vec<f32>, Vec<f32>) {
    let mut rng = Rng(seed);
    let len: usize = dims.iter().product();
    let logits: Vec<f32> = (0..len).map(|_| (2.5 * rng.normal()) as f32).collect();
    let mut targets: Vec<f32> = (0..len).map(|_| (rng.uniform() < 0.3) as u8 as f32).collect();
    let per_image = len / dims[0];
    targets[len - per_image..].iter_mut().for_each(|t| *t = 0.0);
    (logits, targets)
}

#[test]
fn binary_value_and_gradient_through_autodiff_match_the_reference() {
    let device = device().autodiff();
    for (dims, seed) in [([2, 1, 17, 23], 1), ([3, 1, 64, 65], 2), ([1, 1, 1, 1], 3)] {
        let (x, t) = binary_data(dims, seed);
        let terms = binary_terms();
        let want = Engine::cpu().value_and_grad(&segloss::BinaryBatch::new(&x, &t, &dims).unwrap(), &terms).unwrap();
        let loss = SegLoss::binary(terms);
        let logits = Tensor::<4>::from_data(TensorData::new(x.clone(), dims), &device).require_grad();
        let targets = Tensor::<4>::from_data(TensorData::new(t.clone(), dims), &device);
        let total = loss.forward(logits.clone(), targets.clone()).unwrap();
        // Scaled by 3 on the way back: the incoming gradient multiplies the kept one.
        let grads = (total.clone() * 3.0).backward();
        let grad = floats(logits.grad(&grads).expect("the logits are tracked"));
        let got = floats(total)[0] as f64;
        assert!(
            (got - want.forward.total()).abs() <= 2e-5 * want.forward.total().abs().max(1.0),
            "{dims:?}: {got} vs {}",
            want.forward.total()
        );
        let want_grad: Vec<f32> = want.grad.iter().map(|g| 3.0 * g).collect();
        let e = rel_err(&grad, &want_grad);
        assert!(e <= 1e-5, "{dims:?}: gradient off by {e:e} relative");
        // The untracked values: [total, each term].
        let values = floats(loss.values(logits, targets).unwrap());
        assert_eq!(values.len(), 4);
        for (k, v) in want.forward.values.iter().enumerate() {
            assert!(
                (values[k + 1] as f64 - v).abs() <= 2e-5 * v.abs().max(1.0),
                "{dims:?} term {k}: {} vs {v}",
                values[k + 1]
            );
        }
    }
}

#[test]
fn multilabel_probabilities_with_ignored_pixels_match_the_reference() {
    let device = device().autodiff();
    let dims = [2, 3, 11, 9];
    let mut rng = Rng(31);
    let len: usize = dims.iter().product();
    let x: Vec<f32> = (0..len).map(|_| (0.02 + 0.96 * rng.uniform()) as f32).collect();
    let t: Vec<f32> = (0..len).map(|i| if i % 17 == 3 { 255.0 } else { (rng.uniform() < 0.4) as u8 as f32 }).collect();
    let terms = vec![Loss::Dice(Dice::default()).per_image(), Loss::BceDice(BceDice::default()).batch().weighted(0.5)];
    let batch = segloss::BinaryBatch::multilabel(&x, &t, &dims).unwrap().probabilities().ignore_value(255.0).unwrap();
    let want = Engine::cpu().value_and_grad(&batch, &terms).unwrap();
    let loss = SegLoss::multilabel(terms).probabilities().ignore_value(255.0);
    let probs = Tensor::<4>::from_data(TensorData::new(x, dims), &device).require_grad();
    let targets = Tensor::<4>::from_data(TensorData::new(t.clone(), dims), &device);
    let total = loss.forward(probs.clone(), targets).unwrap();
    let grads = total.clone().backward();
    let got = floats(total)[0] as f64;
    assert!(
        (got - want.forward.total()).abs() <= 2e-5 * want.forward.total().abs().max(1.0),
        "{got} vs {}",
        want.forward.total()
    );
    let grad = floats(probs.grad(&grads).unwrap());
    assert!(rel_err(&grad, &want.grad) <= 1e-5, "gradient off by {:e}", rel_err(&grad, &want.grad));
    // Ignored pixels get exactly 0.
    assert!(t.iter().zip(&grad).all(|(&t, &g)| t != 255.0 || g == 0.0));
}

#[test]
fn without_autodiff_the_plan_runs_without_a_gradient() {
    let device = device();
    let dims = [2, 1, 31, 7];
    let (x, t) = binary_data(dims, 9);
    let terms = vec![Loss::Dice(Dice::default()).per_image(), Loss::Iou(Iou::default()).batch()];
    let want = Engine::cpu().forward(&segloss::BinaryBatch::new(&x, &t, &dims).unwrap(), &terms).unwrap();
    let loss = SegLoss::binary(terms);
    let logits = Tensor::<4>::from_data(TensorData::new(x, dims), &device);
    let targets = Tensor::<4>::from_data(TensorData::new(t, dims), &device);
    let got = floats(loss.forward(logits, targets).unwrap());
    assert_eq!(got.len(), 1);
    assert!((got[0] as f64 - want.total()).abs() <= 2e-5, "{} vs {}", got[0], want.total());
}

#[test]
fn f16_logits_match_the_reference_on_the_rounded_logits_and_get_an_f16_gradient() {
    let device = device().autodiff();
    let dims = [2, 1, 19, 21];
    let (x, t) = binary_data(dims, 4);
    let rounded: Vec<f32> = x.iter().map(|&v| segloss::half::f16::from_f32(v).to_f32()).collect();
    let terms = binary_terms();
    let want = Engine::cpu().value_and_grad(&segloss::BinaryBatch::new(&rounded, &t, &dims).unwrap(), &terms).unwrap();
    let logits = Tensor::<4>::from_data(TensorData::new(x, dims), &device).cast(FloatDType::F16).require_grad();
    let targets = Tensor::<4>::from_data(TensorData::new(t, dims), &device);
    let total = SegLoss::binary(terms).forward(logits.clone(), targets).unwrap();
    let grads = total.clone().backward();
    let grad = logits.grad(&grads).unwrap();
    assert_eq!(grad.dtype(), burn::tensor::DType::F16);
    let got = floats(total)[0] as f64;
    assert!((got - want.forward.total()).abs() <= 2e-5 * want.forward.total().abs().max(1.0));
    // The gradient is rounded to f16 on its way back: 2^-11 relative.
    let e = rel_err(&floats(grad), &want.grad);
    assert!(e <= 1e-3, "f16 gradient off by {e:e}");
}

#[test]
fn multiclass_class_maps_of_every_integer_type_match_the_reference() {
    let device = device().autodiff();
    let (n, c, h, w) = (2, 5, 13, 11);
    let mut rng = Rng(77);
    let x: Vec<f32> = (0..n * c * h * w).map(|_| (3.0 * rng.normal()) as f32).collect();
    let mut map: Vec<u32> = (0..n * h * w).map(|_| (rng.uniform() * c as f64) as u32).collect();
    map[5] = 255;
    let terms = vec![Loss::DiceCe(DiceCe::default()).batch(), Loss::Dice(Dice::default()).per_image().weighted(0.5)];
    let batch = MulticlassBatch::new(&x, ClassMap::U32(&map), &[n, c, h, w]).unwrap().ignore_index(255);
    let want = Engine::cpu().value_and_grad(&batch, &terms).unwrap();
    let loss = SegLoss::multiclass(terms).ignore_index(255);
    let as_i64: Vec<i64> = map.iter().map(|&k| k as i64).collect();
    // (burn's WGSL compiler has no u8 or u16 storage: it cannot cast a map to those here.)
    for dtype in [IntDType::I64, IntDType::I32, IntDType::U32] {
        let logits = Tensor::<4>::from_data(TensorData::new(x.clone(), [n, c, h, w]), &device).require_grad();
        let classes = Tensor::<3, Int>::from_data(TensorData::new(as_i64.clone(), [n, h, w]), &device).cast(dtype);
        let total = loss.forward_classes(logits.clone(), classes).unwrap();
        let grads = total.clone().backward();
        let got = floats(total)[0] as f64;
        assert!(
            (got - want.forward.total()).abs() <= 3e-5 * want.forward.total().abs().max(1.0),
            "{dtype:?}: {got} vs {}",
            want.forward.total()
        );
        let e = rel_err(&floats(logits.grad(&grads).unwrap()), &want.grad);
        assert!(e <= 3e-5, "{dtype:?}: gradient off by {e:e}");
    }
    // A class map with a channel axis of 1 is the same map.
    let logits = Tensor::<4>::from_data(TensorData::new(x.clone(), [n, c, h, w]), &device);
    let classes = Tensor::<4, Int>::from_data(TensorData::new(as_i64, [n, 1, h, w]), &device);
    let got = floats(loss.values_classes(logits, classes).unwrap());
    assert!((got[0] as f64 - want.forward.total()).abs() <= 3e-5 * want.forward.total().abs().max(1.0));
}

#[test]
fn a_loss_inside_a_larger_graph_gets_its_share_of_the_gradient() {
    // L = 2·segloss(a·x) + Σx²/n: the gradient reaching x is 2a·g(a·x) + 2x/n.
    let device = device().autodiff();
    let dims = [2, 1, 8, 9];
    let (x, t) = binary_data(dims, 12);
    let a = 0.7f32;
    let terms = vec![Loss::BceDice(BceDice::default()).batch()];
    let ax: Vec<f32> = x.iter().map(|v| a * v).collect();
    let want = Engine::cpu().value_and_grad(&segloss::BinaryBatch::new(&ax, &t, &dims).unwrap(), &terms).unwrap();
    let len = x.len() as f32;
    let logits = Tensor::<4>::from_data(TensorData::new(x.clone(), dims), &device).require_grad();
    let targets = Tensor::<4>::from_data(TensorData::new(t, dims), &device);
    let seg = SegLoss::binary(terms).forward(logits.clone() * a, targets).unwrap();
    let total = seg * 2.0 + (logits.clone() * logits.clone()).sum() / len;
    let grads = total.backward();
    let want_grad: Vec<f32> = want.grad.iter().zip(&x).map(|(g, v)| 2.0 * a * g + 2.0 * v / len).collect();
    let e = rel_err(&floats(logits.grad(&grads).unwrap()), &want_grad);
    assert!(e <= 1e-5, "gradient off by {e:e}");
}

#[test]
fn small_tensors_in_one_memory_page_give_the_same_numbers_as_the_reference() {
    // burn's default memory configuration pages small tensors into shared buffers: logits,
    // targets and gradient here are a few hundred bytes each, so the gradient lands in a
    // buffer the logits also live in. The plan cannot bind that; segloss-burn writes the
    // gradient to its own buffer and copies it. Many shapes, many calls, each checked.
    let device = device().autodiff();
    let terms = vec![Loss::Dice(Dice::default()).batch()];
    let loss = SegLoss::binary(terms.clone());
    for (k, side) in [1usize, 2, 3, 5, 7, 8].into_iter().enumerate() {
        let dims = [2, 1, side, side + 1];
        let (x, t) = binary_data(dims, 100 + k as u64);
        let want = Engine::cpu().value_and_grad(&segloss::BinaryBatch::new(&x, &t, &dims).unwrap(), &terms).unwrap();
        for _ in 0..3 {
            let logits = Tensor::<4>::from_data(TensorData::new(x.clone(), dims), &device).require_grad();
            let targets = Tensor::<4>::from_data(TensorData::new(t.clone(), dims), &device);
            let total = loss.forward(logits.clone(), targets).unwrap();
            let grads = total.clone().backward();
            assert!((floats(total)[0] as f64 - want.forward.total()).abs() <= 2e-5);
            let e = rel_err(&floats(logits.grad(&grads).unwrap()), &want.grad);
            assert!(e <= 1e-5, "{dims:?}: gradient off by {e:e}");
        }
    }
    assert!(
        segloss_burn::scratch_gradients() > 0,
        "no gradient shared a buffer with its inputs: the test did not test that"
    );
}

#[test]
fn bad_calls_are_errors_that_say_what() {
    let device = device();
    let logits = Tensor::<4>::zeros([2, 1, 4, 4], &device);
    let binary = SegLoss::binary(vec![Loss::Dice(Dice::default()).batch()]);
    let err = binary.forward(logits.clone(), Tensor::<4>::zeros([2, 1, 4, 5], &device)).unwrap_err();
    assert!(matches!(&err, Error::Input(m) if m.contains("[2, 1, 4, 5]") && m.contains("[2, 1, 4, 4]")), "{err}");
    let classes = Tensor::<3, Int>::zeros([2, 4, 4], &device);
    let err = binary.forward_classes(logits.clone(), classes.clone()).unwrap_err();
    assert!(err.to_string().contains("call forward / values"), "{err}");
    let multi = SegLoss::multiclass(vec![Loss::Dice(Dice::default()).batch()]);
    let err = multi.forward(logits.clone(), logits.clone()).unwrap_err();
    assert!(err.to_string().contains("forward_classes"), "{err}");
    let four = Tensor::<4>::zeros([2, 3, 4, 4], &device);
    let err = multi.forward_classes(four.clone(), Tensor::<3, Int>::zeros([2, 4, 5], &device)).unwrap_err();
    assert!(err.to_string().contains("[2, 4, 5]") && err.to_string().contains("does not fit"), "{err}");
    let err = multi.forward_classes(four, Tensor::<3, Int>::zeros([3, 4, 4], &device)).unwrap_err();
    assert!(err.to_string().contains("does not fit"), "{err}");
    // segloss's own refusals arrive as its errors: a Lovasz term has no fused plan.
    let lovasz = SegLoss::binary(vec![Loss::LovaszHinge(Default::default()).per_image()]);
    let err = lovasz.forward(logits.clone(), logits).unwrap_err();
    assert!(matches!(err, Error::Segloss(_)), "{err}");
}
