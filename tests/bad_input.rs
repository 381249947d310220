//! Every wrong input is an `Err` naming what and where, on the GPU (checks inside the fused
//! pass) and on the reference alike.
mod common;
use common::*;
use segloss::*;

fn engines() -> Vec<Engine> {
    vec![gpu(), Engine::cpu()]
}

fn terms() -> Vec<Term> {
    vec![Loss::Dice(Dice::default()).batch(), Loss::Bce(Bce::default()).per_image()]
}

#[test]
fn shape_mismatch_and_empty_input_are_errors() {
    let x = vec![0.0f32; 12];
    let t = vec![0.0f32; 11];
    let e = BinaryBatch::new(&x, &t, &[1, 3, 4]).unwrap_err();
    assert_eq!(e, Error::ShapeMismatch { tensor: Tensor::Target, shape: vec![1, 3, 4], expected: 12, actual: 11 });
    assert!(e.to_string().contains("target has 11 elements"), "{e}");
    let e = BinaryBatch::new(&x, &x, &[2, 3, 4]).unwrap_err();
    assert!(matches!(e, Error::ShapeMismatch { tensor: Tensor::Input, expected: 24, actual: 12, .. }), "{e}");
    let e = BinaryBatch::new(&[], &[], &[0, 3, 4]).unwrap_err();
    assert!(matches!(e, Error::InvalidShape { .. }) && e.to_string().contains("empty"), "{e}");
    let e = BinaryBatch::new(&x, &x, &[1, 2, 2, 3]).unwrap_err();
    assert!(e.to_string().contains("one channel"), "{e}");
    let e = BinaryBatch::new(&x, &x, &[12]).unwrap_err();
    assert!(matches!(e, Error::InvalidShape { .. }), "{e}");
}

#[test]
fn non_finite_logits_name_the_first_bad_index() {
    let mut rng = Rng::new(9);
    let (n, h, w) = (3, 41, 43);
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let (mut x, t) = make_case(&mut rng, n, h, w, Mask::Hard, 2.0);
        let first = h * w + 17 * w + 5; // image 1, pixel 17*w+5
        x[first] = bad;
        x[first + 300] = bad;
        x[2 * h * w + 1] = f32::NAN;
        let batch = BinaryBatch::new(&x, &t, &[n, h, w]).unwrap();
        for engine in engines() {
            let e = engine.forward(&batch, &terms()).unwrap_err();
            match e {
                Error::NonFinite { tensor: Tensor::Input, index, image, pixel, value, channel: 0 } => {
                    assert_eq!((index, image, pixel), (first, 1, 17 * w + 5), "{}", engine.info().backend);
                    assert_eq!(value.to_bits(), bad.to_bits());
                }
                other => panic!("{}: {other}", engine.info().backend),
            }
            let msg = engine.value_and_grad(&batch, &terms()).unwrap_err().to_string();
            assert!(msg.contains(&format!("flat index {first}")) && msg.contains("image 1"), "{msg}");
        }
    }
}

#[test]
fn targets_outside_unit_interval_are_errors_unless_ignored() {
    let mut rng = Rng::new(10);
    let (n, h, w) = (2, 19, 23);
    let (x, mut t) = make_case(&mut rng, n, h, w, Mask::Soft, 2.0);
    t[3] = 255.0; // ignored below
    t[50] = 1.5;
    t[60] = -0.25;
    let plain = BinaryBatch::new(&x, &t, &[n, h, w]).unwrap();
    let ignoring = plain.ignore_value(255.0).unwrap();
    for engine in engines() {
        let e = engine.forward(&plain, &terms()).unwrap_err();
        assert!(matches!(e, Error::OutOfRange { tensor: Tensor::Target, index: 3, value: 255.0, .. }), "{e}");
        let e = engine.forward(&ignoring, &terms()).unwrap_err();
        assert!(matches!(e, Error::OutOfRange { tensor: Tensor::Target, index: 50, value: 1.5, .. }), "{e}");
        assert!(e.to_string().contains("ignore value 255"), "{e}");
    }
    let mut t2 = t.clone();
    t2[50] = f32::NAN;
    let batch = BinaryBatch::new(&x, &t2, &[n, h, w]).unwrap().ignore_value(255.0).unwrap();
    for engine in engines() {
        let e = engine.forward(&batch, &terms()).unwrap_err();
        assert!(matches!(e, Error::NonFinite { tensor: Tensor::Target, index: 50, .. }), "{e}");
    }
}

#[test]
fn probabilities_outside_unit_interval_are_errors() {
    let x = [0.2f32, 0.5, 1.0001, 0.3];
    let t = [0.0f32, 1.0, 1.0, 0.0];
    let batch = BinaryBatch::new(&x, &t, &[1, 2, 2]).unwrap().probabilities();
    for engine in engines() {
        let e = engine.forward(&batch, &terms()).unwrap_err();
        assert!(matches!(e, Error::OutOfRange { tensor: Tensor::Input, index: 2, .. }), "{e}");
    }
}

#[test]
fn the_earlier_of_input_and_target_errors_wins() {
    let mut x = vec![0.5f32; 64];
    let mut t = vec![1.0f32; 64];
    x[40] = f32::NAN;
    t[20] = 2.0;
    let batch = BinaryBatch::new(&x, &t, &[1, 8, 8]).unwrap();
    for engine in engines() {
        let e = engine.forward(&batch, &terms()).unwrap_err();
        assert!(matches!(e, Error::OutOfRange { tensor: Tensor::Target, index: 20, .. }), "{e}");
    }
}

#[test]
fn invalid_parameters_are_errors() {
    let x = [0.0f32; 4];
    let batch = BinaryBatch::new(&x, &x, &[1, 2, 2]).unwrap();
    let cases: Vec<(Loss, &str)> = vec![
        (Loss::Focal(Focal { gamma: -1.0, ..Focal::default() }), "Focal.gamma"),
        (Loss::Focal(Focal { alpha: Some(1.5), ..Focal::default() }), "Focal.alpha"),
        (Loss::Focal(Focal { alpha: Some(-0.1), ..Focal::default() }), "Focal.alpha"),
        (Loss::Dice(Dice::default().smooth(-1.0)), "Dice.smooth_nr"),
        (Loss::Dice(Dice { smooth_dr: 0.0, eps: 0.0, ..Dice::default() }), "Dice.smooth_dr"),
        (Loss::Iou(Iou { smooth: -0.5, eps: 1e-7 }), "Iou.smooth"),
        (Loss::Tversky(Tversky { alpha: -0.1, ..Tversky::default() }), "Tversky.alpha"),
        (Loss::Tversky(Tversky { gamma: 0.0, ..Tversky::default() }), "Tversky.gamma"),
        (Loss::Bce(Bce { label_smoothing: 1.0, ..Bce::default() }), "Bce.label_smoothing"),
        (Loss::Bce(Bce { pos_weight: f64::NAN, ..Bce::default() }), "Bce.pos_weight"),
        (Loss::Combo(Combo { ce_ratio: 1.2, ..Combo::default() }), "Combo.ce_ratio"),
        (Loss::Combo(Combo { beta: -0.2, ..Combo::default() }), "Combo.beta"),
        (Loss::Mcc(Mcc { eps: -1e-5, ..Mcc::default() }), "Mcc.eps"),
        (Loss::Mcc(Mcc { smooth_nr: -1.0, ..Mcc::default() }), "Mcc.smooth_nr"),
        (Loss::Mcc(Mcc { smooth_dr: f64::NAN, ..Mcc::default() }), "Mcc.smooth_dr"),
        (Loss::Mcc(Mcc { eps: 0.0, smooth_dr: 0.0, ..Mcc::default() }), "Mcc.smooth_dr"),
    ];
    for engine in engines() {
        for (loss, name) in &cases {
            let e = engine.forward(&batch, &[loss.batch()]).unwrap_err();
            assert!(matches!(e, Error::InvalidParameter { .. }), "{name}: {e}");
            assert!(e.to_string().contains(name), "{name}: {e}");
        }
        let e = engine.forward(&batch, &[]).unwrap_err();
        assert!(matches!(e, Error::InvalidRequest(_)), "{e}");
        let e = engine.forward(&batch, &[Loss::Dice(Dice::default()).batch().weighted(f64::INFINITY)]).unwrap_err();
        assert!(e.to_string().contains("weight"), "{e}");
    }
    let e = BinaryBatch::new(&x, &x, &[1, 2, 2]).unwrap().ignore_value(f32::NAN).unwrap_err();
    assert!(matches!(e, Error::InvalidParameter { param: "ignore", .. }), "{e}");
}

#[test]
fn conflicting_per_pixel_parameters_are_errors() {
    let x = [0.0f32; 4];
    let batch = BinaryBatch::new(&x, &x, &[1, 2, 2]).unwrap();
    let a = Loss::Focal(Focal { gamma: 2.0, ..Focal::default() }).batch();
    let b = Loss::Focal(Focal { gamma: 1.0, ..Focal::default() }).per_image();
    let e = Engine::cpu().forward(&batch, &[Loss::Dice(Dice::default()).batch(), a.clone(), b]).unwrap_err();
    assert_eq!(e, Error::ConflictingPixelParams { what: "focal", first: 1, second: 2 });
    // Same parameters in two terms are fine.
    Engine::cpu().forward(&batch, &[a.clone(), a.loss.per_image()]).unwrap();
}
