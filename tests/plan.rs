//! Plans: the GPU finalize against the f64 reference, `encode` into a caller's encoder on a
//! caller's device against the blocking `run` (same bits, offsets ≠ 0), chunked against
//! single-pass, f16 logits and u8 targets against the reference on the converted inputs,
//! and the errors a plan returns.
mod common;
use common::*;
use segloss::wgpu;
use segloss::*;

/// Binary (C = 1) or multilabel case: logits, targets, dims.
fn case(seed: u64, n: usize, c: usize, h: usize, w: usize, mask: Mask, scale: f64) -> (Vec<f32>, Vec<f32>, Vec<usize>) {
    let mut rng = Rng::new(seed);
    let (x, t) = make_case(&mut rng, n * c, h, w, mask, scale);
    (x, t, vec![n, c, h, w])
}

fn desc(dims: &[usize], terms: Vec<Term>) -> PlanDesc {
    if dims[1] == 1 {
        PlanDesc::binary(dims, terms).unwrap()
    } else {
        PlanDesc::multilabel(dims, terms).unwrap()
    }
}

fn reference(x: &[f32], t: &[f32], d: &PlanDesc) -> ValueAndGrad {
    let dims = d.shape.dims_with_channels(d.channels);
    let mut b = BinaryBatch::multilabel(x, t, &dims).unwrap();
    if d.channels == 1 {
        b = BinaryBatch::new(x, t, &dims).unwrap();
    }
    if let Some(v) = d.ignore {
        b = b.ignore_value(v).unwrap();
    }
    if d.input_kind == InputKind::Probabilities {
        b = b.probabilities();
    }
    Engine::cpu().value_and_grad(&b, &d.terms).unwrap()
}

fn assert_matches_reference(what: &str, got: &PlanOutput, want: &ValueAndGrad, rel: f64) {
    for ((term, g), w) in want.forward.terms.iter().zip(&got.values).zip(&want.forward.values) {
        assert!(
            close(*g as f64, *w, rel, 1e-6),
            "{what}: {} plan {g} vs reference {w} (rel {:e})",
            term.label(),
            (*g as f64 - w).abs() / w.abs()
        );
    }
    assert!(
        close(got.total as f64, want.forward.total(), rel, 1e-6),
        "{what}: total {} vs {}",
        got.total,
        want.forward.total()
    );
    if let Some(g) = &got.grad {
        let w64: Vec<f64> = want.grad.iter().map(|&v| v as f64).collect();
        assert_grad(what, g, &w64, rel, 1e-9);
    }
}

#[test]
fn plan_matches_the_reference_for_every_request_mask_and_mode() {
    let gpu = gpu();
    for (ri, terms) in requests().into_iter().enumerate() {
        for (ci, (n, c, h, w)) in [(1, 1, 1, 1), (3, 1, 17, 19), (2, 3, 31, 29)].into_iter().enumerate() {
            for mask in [Mask::Hard, Mask::Soft, Mask::Empty, Mask::Full] {
                let (x, t, dims) = case(ri as u64 * 100 + ci as u64, n, c, h, w, mask, 3.0);
                let d = desc(&dims, terms.clone()).with_gradient();
                let want = reference(&x, &t, &d);
                let plan = gpu.plan(d).unwrap();
                let got = plan.run(LogitData::F32(&x), TargetData::F32(&t)).unwrap();
                assert_matches_reference(&format!("request {ri} {dims:?} {mask:?}"), &got, &want, 2e-5);
            }
        }
    }
}

#[test]
fn plan_handles_class_options_ignore_probabilities_and_extreme_logits() {
    let gpu = gpu();
    let (n, c, h, w) = (3, 4, 13, 11);
    let (mut x, mut t, dims) = case(5, n, c, h, w, Mask::Hard, 4.0);
    // Channel 2 absent from image 0; extreme logits; ignored pixels.
    t[2 * h * w..3 * h * w].iter_mut().for_each(|v| *v = 0.0);
    x[7] = 80.0;
    x[8] = -80.0;
    x[9] = 30.0;
    for i in (0..t.len()).step_by(37) {
        t[i] = 255.0;
    }
    let opts = [
        ClassOptions { weights: Some(vec![0.5, 2.0, 1.0, 0.0]), ..Default::default() },
        ClassOptions { weights: Some(vec![0.5, 2.0, 1.0, 3.0]), normalize_weights: false, ..Default::default() },
        ClassOptions { selection: ClassSelection::NoBackground, absent: AbsentClass::Zero, ..Default::default() },
        ClassOptions { selection: ClassSelection::Only(vec![3, 2]), absent: AbsentClass::Skip, ..Default::default() },
    ];
    let mut terms = Vec::new();
    for (i, o) in opts.iter().enumerate() {
        let dice = Loss::Dice(Dice { smooth_nr: 0.0, smooth_dr: 1e-5, ..Dice::default() });
        terms.push(dice.batch().with_classes(o.clone()).weighted(0.5 + i as f64));
        terms.push(Loss::Tversky(Tversky { gamma: 1.5, ..Tversky::default() }).per_image().with_classes(o.clone()));
        terms.push(Loss::Bce(Bce::default()).per_image().with_classes(o.clone()).weighted(-0.25));
    }
    terms.push(Loss::GeneralizedDice(GeneralizedDice::default()).per_image());
    let simple = GeneralizedDice { weighting: GdlWeighting::Simple, ..Default::default() };
    terms.push(Loss::GeneralizedDice(simple).batch().with_classes(opts[3].clone()));
    let d = desc(&dims, terms.clone()).ignore_value(255.0).with_gradient();
    let got = gpu.plan(d.clone()).unwrap().run(LogitData::F32(&x), TargetData::F32(&t)).unwrap();
    assert_matches_reference("class options", &got, &reference(&x, &t, &d), 2e-5);
    // Probabilities.
    let p: Vec<f32> = x.iter().map(|&v| 1.0 / (1.0 + (-v / 8.0).exp())).collect();
    let d = desc(&dims, terms).ignore_value(255.0).probabilities().with_gradient();
    let got = gpu.plan(d.clone()).unwrap().run(LogitData::F32(&p), TargetData::F32(&t)).unwrap();
    assert_matches_reference("probabilities", &got, &reference(&p, &t, &d), 2e-5);
}

/// A caller's device, and an engine on it.
fn caller_device() -> (wgpu::Device, wgpu::Queue, Engine) {
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapter = pollster::block_on(wgpu::util::initialize_adapter_from_env_or_default(&instance, None))
        .expect("GPU tests need an adapter");
    let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor::default())).unwrap();
    let engine = Engine::from_device(device.clone(), queue.clone()).unwrap();
    (device, queue, engine)
}

fn read(device: &wgpu::Device, queue: &wgpu::Queue, src: &wgpu::Buffer, offset: u64, size: u64) -> Vec<u8> {
    let staging = device.create_buffer(&wgpu::BufferDescriptor {
        label: None,
        size,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let mut enc = device.create_command_encoder(&Default::default());
    enc.copy_buffer_to_buffer(src, offset, &staging, 0, Some(size));
    queue.submit([enc.finish()]);
    staging.slice(..).map_async(wgpu::MapMode::Read, |r| r.unwrap());
    device.poll(wgpu::PollType::wait_indefinitely()).unwrap();
    let out = staging.slice(..).get_mapped_range().unwrap().to_vec();
    out
}

fn buffer_with(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    offset: u64,
    data: &[u8],
    usage: wgpu::BufferUsages,
) -> wgpu::Buffer {
    let size = (offset + data.len() as u64 + 300).next_multiple_of(4);
    let b = device.create_buffer(&wgpu::BufferDescriptor {
        label: None,
        size,
        usage: usage | wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    });
    // Fill around the data with a pattern the plan must not touch.
    queue.write_buffer(&b, 0, &vec![0xAB; size as usize]);
    if !data.is_empty() {
        queue.write_buffer(&b, offset, data);
    }
    b
}

#[test]
fn encode_into_a_callers_encoder_gives_the_bits_of_run() {
    let (device, queue, engine) = caller_device();
    let (n, c, h, w) = (2, 3, 37, 41);
    let (x, t, dims) = case(11, n, c, h, w, Mask::Hard, 2.0);
    let terms = vec![
        Loss::Dice(Dice::default()).batch(),
        Loss::Focal(Focal::default()).per_image().weighted(2.0),
        Loss::Iou(Iou::default()).per_image(),
    ];
    let d = desc(&dims, terms).with_gradient();
    let plan = engine.plan(d.clone()).unwrap();
    let blocking = plan.run(LogitData::F32(&x), TargetData::F32(&t)).unwrap();
    let u = wgpu::BufferUsages::STORAGE;
    let (lo, to, go, vo) = (512u64, 256u64, 768u64, 12u64);
    let xb = buffer_with(&device, &queue, lo, bytemuck::cast_slice(&x), u);
    let tb = buffer_with(&device, &queue, to, bytemuck::cast_slice(&t), u);
    let gb = buffer_with(&device, &queue, go, &vec![0u8; x.len() * 4], u);
    let vb = buffer_with(&device, &queue, vo, &[0u8; 16], wgpu::BufferUsages::empty());
    let mut encoder = device.create_command_encoder(&Default::default());
    plan.encode(
        &mut encoder,
        &PlanIo {
            logits: BufferAt::new(&xb, lo),
            targets: BufferAt::new(&tb, to),
            values: BufferAt::new(&vb, vo),
            grad: Some(BufferAt::new(&gb, go)),
        },
    )
    .unwrap();
    queue.submit([encoder.finish()]);
    let values: Vec<f32> = bytemuck::pod_collect_to_vec(&read(&device, &queue, &vb, 0, vb.size()));
    let k = (vo / 4) as usize;
    assert_eq!(values[k].to_bits(), blocking.total.to_bits());
    for (i, v) in blocking.values.iter().enumerate() {
        assert_eq!(values[k + 1 + i].to_bits(), v.to_bits(), "term {i}");
    }
    // Bytes around the values are untouched.
    assert!(read(&device, &queue, &vb, 0, vo).iter().all(|&b| b == 0xAB));
    let grad: Vec<f32> = bytemuck::pod_collect_to_vec(&read(&device, &queue, &gb, go, (x.len() * 4) as u64));
    let want = blocking.grad.unwrap();
    assert!(grad.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()), "gradient bits differ");
    assert!(read(&device, &queue, &gb, 0, go).iter().all(|&b| b == 0xAB));
    // And both match the reference.
    let r = reference(&x, &t, &d);
    assert_matches_reference(
        "encode",
        &PlanOutput { total: values[k], values: values[k + 1..k + 4].to_vec(), grad: Some(grad) },
        &r,
        2e-5,
    );
}

#[test]
fn chunked_plans_and_calls_equal_single_pass() {
    let single = gpu();
    // 64 KiB bindings: 16 384 floats, so this batch is split into several chunks.
    let small = gpu_with(EngineOptions { max_storage_binding: Some(64 * 1024), ..Default::default() });
    let (x, t, dims) = case(21, 3, 2, 101, 103, Mask::Soft, 2.0);
    for terms in requests() {
        let d = desc(&dims, terms.clone()).with_gradient();
        let a = single.plan(d.clone()).unwrap();
        let b = small.plan(d.clone()).unwrap();
        assert_eq!(a.chunks(), 1);
        assert!(b.chunks() >= 4, "{} chunks", b.chunks());
        let ra = a.run(LogitData::F32(&x), TargetData::F32(&t)).unwrap();
        let rb = b.run(LogitData::F32(&x), TargetData::F32(&t)).unwrap();
        for (va, vb) in ra.values.iter().zip(&rb.values) {
            assert!(close(*vb as f64, *va as f64, 1e-6, 1e-7), "chunked {vb} vs single {va}");
        }
        let ga: Vec<f64> = ra.grad.unwrap().iter().map(|&v| v as f64).collect();
        assert_grad("chunked plan", &rb.grad.unwrap(), &ga, 1e-6, 1e-12);
        // The blocking engine API, chunked or not, agrees as well.
        let batch = BinaryBatch::multilabel(&x, &t, &dims).unwrap();
        let ea = single.value_and_grad(&batch, &terms).unwrap();
        let eb = small.value_and_grad(&batch, &terms).unwrap();
        for (va, vb) in ea.forward.values.iter().zip(&eb.forward.values) {
            assert!(close(*vb, *va, 1e-6, 1e-9), "chunked call {vb} vs single {va}");
        }
        let ga: Vec<f64> = ea.grad.iter().map(|&v| v as f64).collect();
        assert_grad("chunked call", &eb.grad, &ga, 1e-6, 1e-12);
    }
}

#[test]
fn f16_logits_and_u8_targets_match_the_reference_on_the_converted_inputs() {
    let gpu = gpu();
    for (n, c, h, w) in [(2, 1, 33, 31), (3, 2, 7, 5), (1, 1, 1, 3)] {
        let (x, t, dims) = case(31, n, c, h, w, Mask::Hard, 3.0);
        let mut t8: Vec<u8> = t.iter().map(|&v| v as u8).collect();
        t8[0] = 255;
        let mut x16: Vec<half::f16> = x.iter().map(|&v| half::f16::from_f32(v)).collect();
        // Subnormal, largest and signed-zero halves (where the batch has room).
        let specials = [0x0001u16, 0x83ff, 0x7bff, 0xfbff, 0x8000, 0x0400];
        for (v, bits) in x16.iter_mut().skip(1).zip(specials) {
            *v = half::f16::from_bits(bits);
        }
        let xc: Vec<f32> = x16.iter().map(|v| v.to_f32()).collect();
        let tc: Vec<f32> = t8.iter().map(|&v| v as f32).collect();
        assert!(x.iter().zip(&xc).any(|(a, b)| a != b), "f16 conversion changed nothing");
        for terms in requests() {
            let base = desc(&dims, terms).ignore_value(255.0).with_gradient();
            let want = reference(&xc, &tc, &base);
            let formats = [
                (LogitFormat::F16, TargetFormat::U8),
                (LogitFormat::F16, TargetFormat::F32),
                (LogitFormat::F32, TargetFormat::U8),
            ];
            for (lf, tf) in formats {
                let plan = gpu.plan(base.clone().logit_format(lf).target_format(tf)).unwrap();
                let xd = if lf == LogitFormat::F16 { LogitData::F16(&x16) } else { LogitData::F32(&xc) };
                let td = if tf == TargetFormat::U8 { TargetData::U8(&t8) } else { TargetData::F32(&tc) };
                let got = plan.run(xd, td).unwrap();
                assert_matches_reference(&format!("{lf:?}/{tf:?} {dims:?}"), &got, &want, 2e-5);
            }
        }
    }
}

#[test]
fn plan_errors_name_the_problem() {
    let gpu = gpu();
    let (mut x, mut t, dims) = case(41, 2, 1, 9, 7, Mask::Hard, 1.0);
    let d = desc(&dims, vec![Loss::Dice(Dice::default()).batch()]).with_gradient();
    let plan = gpu.plan(d.clone()).unwrap();
    // Bad data: an Err naming the element from run.
    x[70] = f32::NAN;
    let e = plan.run(LogitData::F32(&x), TargetData::F32(&t)).unwrap_err();
    assert!(matches!(e, Error::NonFinite { index: 70, image: 1, .. }), "{e}");
    x[70] = 0.0;
    t[3] = 0.5 + 2.0;
    let e = plan.run(LogitData::F32(&x), TargetData::F32(&t)).unwrap_err();
    assert!(matches!(e, Error::OutOfRange { index: 3, .. }), "{e}");
    t[3] = 1.0;
    // A half-precision infinity is found too.
    let f16_plan = gpu.plan(d.clone().logit_format(LogitFormat::F16)).unwrap();
    let mut x16: Vec<half::f16> = x.iter().map(|&v| half::f16::from_f32(v)).collect();
    x16[33] = half::f16::NEG_INFINITY;
    let e = f16_plan.run(LogitData::F16(&x16), TargetData::F32(&t)).unwrap_err();
    assert!(matches!(e, Error::NonFinite { index: 33, .. }), "{e}");
    // Wrong sizes and formats.
    let e = plan.run(LogitData::F32(&x[1..]), TargetData::F32(&t)).unwrap_err();
    assert!(matches!(e, Error::ShapeMismatch { .. }), "{e}");
    let t8 = vec![0u8; t.len()];
    let e = plan.run(LogitData::F32(&x), TargetData::U8(&t8)).unwrap_err();
    assert!(e.to_string().contains("U8 data for a plan that reads F32"), "{e}");
    // Terms a plan cannot finalize, and the reference engine.
    let e = gpu.plan(desc(&dims, vec![Loss::LovaszHinge(LovaszHinge).batch()])).unwrap_err();
    assert!(e.to_string().contains("not available in a plan"), "{e}");
    assert!(Engine::cpu().plan(d).is_err());
    // The plan still works.
    plan.run(LogitData::F32(&x), TargetData::F32(&t)).unwrap();
}

#[test]
fn encode_checks_the_callers_buffers() {
    let (device, queue, engine) = caller_device();
    let (x, t, dims) = case(51, 1, 1, 16, 16, Mask::Hard, 1.0);
    let plan = engine.plan(desc(&dims, vec![Loss::Bce(Bce::default()).batch()]).with_gradient()).unwrap();
    let u = wgpu::BufferUsages::STORAGE;
    let xb = buffer_with(&device, &queue, 0, bytemuck::cast_slice(&x), u);
    let tb = buffer_with(&device, &queue, 0, bytemuck::cast_slice(&t), u);
    let short = buffer_with(&device, &queue, 0, &[0u8; 64], u);
    let vb = buffer_with(&device, &queue, 0, &[0u8; 8], wgpu::BufferUsages::empty());
    let io = PlanIo {
        logits: BufferAt::new(&xb, 0),
        targets: BufferAt::new(&tb, 0),
        values: BufferAt::new(&vb, 0),
        grad: Some(BufferAt::new(&short, 0)),
    };
    let mut encoder = device.create_command_encoder(&Default::default());
    let e = plan.encode(&mut encoder, &io).unwrap_err();
    assert!(e.to_string().contains("grad buffer: 1024 bytes needed"), "{e}");
    let e = plan.encode(&mut encoder, &PlanIo { logits: BufferAt::new(&xb, 4), ..io }).unwrap_err();
    assert!(e.to_string().contains("offset 4 is not a multiple"), "{e}");
    let e = plan.encode(&mut encoder, &PlanIo { grad: None, ..io }).unwrap_err();
    assert!(e.to_string().contains("PlanIo::grad is required"), "{e}");
    let e = plan.encode(&mut encoder, &PlanIo { grad: Some(BufferAt::new(&xb, 0)), ..io }).unwrap_err();
    assert!(e.to_string().contains("the same buffer as the logits"), "{e}");
    let gb = buffer_with(&device, &queue, 0, &[0u8; 1024], u);
    let io = PlanIo { grad: Some(BufferAt::new(&gb, 0)), ..io };
    let e = plan.encode(&mut encoder, &PlanIo { values: BufferAt::new(&xb, 2), ..io }).unwrap_err();
    assert!(e.to_string().contains("values buffer: offset 2"), "{e}");
}

#[test]
fn plan_matches_the_reference_for_tversky_options_and_focal_forms() {
    let gpu = gpu();
    let tv = Tversky::default();
    let tverskys = [
        Tversky { smooth: 0.0, smooth_dr: Some(1e-5), ..tv },
        Tversky { tp_form: TpForm::SoftL1, gamma: 1.5, ..tv },
        Tversky { log_loss: true, alpha: 0.3, beta: 0.7, ..tv },
        Tversky { squared: true, gamma: 0.75, ..tv },
    ];
    let forms = [FocalForm::Probability, FocalForm::ExpBce, FocalForm::LogSigmoid, FocalForm::PerTerm];
    for (k, (t, form)) in tverskys.into_iter().zip(forms).enumerate() {
        let focal = Focal { alpha: Some(0.25), gamma: 2.0, reduction: Reduction::Mean, form };
        let terms =
            vec![Loss::Tversky(t).batch(), Loss::Tversky(t).per_image().weighted(0.5), Loss::Focal(focal).per_image()];
        for (n, c, h, w) in [(2, 1, 23, 19), (2, 3, 9, 7)] {
            for mask in [Mask::Soft, Mask::Hard, Mask::Empty] {
                let (x, t, dims) = case(60 + k as u64, n, c, h, w, mask, 3.0);
                let d = desc(&dims, terms.clone()).with_gradient();
                let got = gpu.plan(d.clone()).unwrap().run(LogitData::F32(&x), TargetData::F32(&t)).unwrap();
                assert_matches_reference(&format!("{k} {dims:?} {mask:?}"), &got, &reference(&x, &t, &d), 2e-5);
            }
        }
    }
    let smp_gamma = Tversky { gamma: 2.0, gamma_after_class_mean: true, ..tv };
    let e = gpu.plan(desc(&[1, 2, 3, 3], vec![Loss::Tversky(smp_gamma).batch()])).unwrap_err();
    assert!(e.to_string().contains("gamma_after_class_mean"), "{e}");
    let pooled = ClassOptions { pool: true, ..Default::default() };
    let e = gpu.plan(desc(&[1, 2, 3, 3], vec![Loss::Dice(Dice::default()).batch().with_classes(pooled)])).unwrap_err();
    assert!(e.to_string().contains("pool"), "{e}");
}

/// Multiclass requests: every softmax-row loss a plan finalizes, with class options.
fn multiclass_requests(c: usize) -> Vec<Vec<Term>> {
    let weights: Vec<f64> = (0..c).map(|k| 0.5 + k as f64 / c as f64).collect();
    let w = ClassOptions { weights: Some(weights.clone()), ..Default::default() };
    let unnorm = ClassOptions { weights: Some(weights), normalize_weights: false, ..Default::default() };
    let nobg =
        ClassOptions { selection: ClassSelection::NoBackground, absent: AbsentClass::Zero, ..Default::default() };
    let only = ClassOptions {
        selection: ClassSelection::Only(vec![c - 1, 0]),
        absent: AbsentClass::Skip,
        ..Default::default()
    };
    let gdl = |weighting, tp_form, all_absent_weight| {
        Loss::GeneralizedDice(GeneralizedDice { weighting, tp_form, all_absent_weight, ..Default::default() })
    };
    vec![
        vec![
            Loss::CrossEntropy(CrossEntropy::default()).batch(),
            Loss::CrossEntropy(CrossEntropy { label_smoothing: 0.1, reduction: Reduction::Mean })
                .per_image()
                .with_classes(w.clone()),
            Loss::CrossEntropy(CrossEntropy { label_smoothing: 0.0, reduction: Reduction::Sum }).batch().weighted(0.01),
            Loss::DiceCe(DiceCe::default()).per_image().with_classes(nobg.clone()),
            Loss::DiceCe(DiceCe { weight_dice: 0.3, weight_ce: 0.7, ..DiceCe::default() })
                .batch()
                .with_classes(only.clone()),
            Loss::Dice(Dice { smooth_nr: 0.0, smooth_dr: 1e-5, ..Dice::default() })
                .per_image()
                .with_classes(unnorm.clone()),
            Loss::Iou(Iou::default()).batch().with_classes(only.clone()),
            Loss::Tversky(Tversky { alpha: 0.3, beta: 0.7, gamma: 1.5, ..Tversky::default() })
                .per_image()
                .with_classes(nobg.clone()),
            gdl(GdlWeighting::Square, TpForm::Product, 1.0).per_image(),
            gdl(GdlWeighting::Simple, TpForm::SoftL1, 0.0).batch().with_classes(nobg.clone()),
            gdl(GdlWeighting::Uniform, TpForm::Product, 1.0).per_image().with_classes(only.clone()),
            Loss::Combo(Combo { ce_ratio: 0.3, ..Combo::default() }).per_image().with_classes(nobg),
            Loss::Focal(Focal { alpha: Some(0.25), gamma: 2.0, ..Focal::default() }).per_image(),
            Loss::Focal(Focal { alpha: Some(0.25), gamma: 2.0, reduction: Reduction::Sum, ..Focal::default() })
                .batch()
                .weighted(0.01),
        ],
        vec![
            Loss::Focal(Focal { alpha: None, gamma: 0.5, ..Focal::default() }).batch().with_classes(w),
            Loss::Combo(Combo::default()).batch().with_classes(unnorm),
        ],
        // Each plan's backward kernel has only the terms its losses declare: label-smoothed
        // cross-entropy's WCE term without a Combo that would bring it anyway.
        vec![
            Loss::CrossEntropy(CrossEntropy { label_smoothing: 0.2, reduction: Reduction::Mean }).batch(),
            Loss::Dice(Dice::default()).per_image(),
        ],
    ]
}

/// Under both multiclass forward strategies (`ClassStrategy`), whichever the adapter would
/// choose.
#[test]
fn multiclass_plans_match_the_reference() {
    for (strategy, gpu) in class_strategy_engines(EngineOptions::default()) {
        multiclass_plan_cases(&gpu, &format!("{strategy:?}"));
    }
}

fn multiclass_plan_cases(gpu: &Engine, strategy: &str) {
    for (n, c, h, w) in [(2, 3, 13, 11), (3, 19, 9, 7), (1, 2, 1, 1)] {
        let mut rng = Rng::new(70 + c as u64);
        let logits: Vec<f32> = (0..n * c * h * w).map(|_| (3.0 * rng.normal()) as f32).collect();
        let mut map: Vec<u32> = (0..n * h * w).map(|_| (rng.uniform() * c as f64) as u32).collect();
        // Class 1 absent from image 0; some ignored pixels (index 255).
        map[..h * w].iter_mut().filter(|k| **k == 1).for_each(|k| *k = 0);
        if map.len() > 4 {
            map[3] = 255;
            let last = map.len() - 2;
            map[last] = 255;
        }
        let m8: Vec<u8> = map.iter().map(|&k| k as u8).collect();
        let m16: Vec<u16> = map.iter().map(|&k| k as u16).collect();
        let dims = [n, c, h, w];
        for terms in multiclass_requests(c) {
            let batch = MulticlassBatch::new(&logits, ClassMap::U32(&map), &dims).unwrap().ignore_index(255);
            let want = Engine::cpu().value_and_grad(&batch, &terms).unwrap();
            let maps = [
                (TargetFormat::Classes8, ClassMap::U8(&m8)),
                (TargetFormat::Classes16, ClassMap::U16(&m16)),
                (TargetFormat::Classes32, ClassMap::U32(&map)),
            ];
            for (format, data) in maps {
                let d = PlanDesc::multiclass(&dims, format, terms.clone()).unwrap().ignore_index(255).with_gradient();
                let got = gpu.plan(d).unwrap().run(LogitData::F32(&logits), TargetData::Classes(data)).unwrap();
                assert_matches_reference(&format!("{strategy}: multiclass {dims:?} {format:?}"), &got, &want, 3e-5);
            }
            // f16 logits: against the reference on the converted logits.
            let l16: Vec<half::f16> = logits.iter().map(|&v| half::f16::from_f32(v)).collect();
            let lc: Vec<f32> = l16.iter().map(|v| v.to_f32()).collect();
            let batch = MulticlassBatch::new(&lc, ClassMap::U32(&map), &dims).unwrap().ignore_index(255);
            let want16 = Engine::cpu().value_and_grad(&batch, &terms).unwrap();
            let d = PlanDesc::multiclass(&dims, TargetFormat::Classes8, terms.clone())
                .unwrap()
                .ignore_index(255)
                .logit_format(LogitFormat::F16)
                .with_gradient();
            let got = gpu.plan(d).unwrap().run(LogitData::F16(&l16), TargetData::Classes(ClassMap::U8(&m8))).unwrap();
            assert_matches_reference(&format!("{strategy}: multiclass f16 {dims:?}"), &got, &want16, 3e-5);
        }
    }
}

#[test]
fn multiclass_plan_encode_gives_the_bits_of_run_and_checks_its_inputs() {
    let (device, queue, engine) = caller_device();
    let (n, c, h, w) = (2, 5, 17, 15);
    let mut rng = Rng::new(90);
    let logits: Vec<f32> = (0..n * c * h * w).map(|_| (2.0 * rng.normal()) as f32).collect();
    let map: Vec<u8> = (0..n * h * w).map(|_| (rng.uniform() * c as f64) as u8).collect();
    let terms = vec![Loss::DiceCe(DiceCe::default()).per_image(), Loss::Focal(Focal::default()).batch().weighted(3.0)];
    let d = PlanDesc::multiclass(&[n, c, h, w], TargetFormat::Classes8, terms).unwrap().with_gradient();
    let plan = engine.plan(d.clone()).unwrap();
    let blocking = plan.run(LogitData::F32(&logits), TargetData::Classes(ClassMap::U8(&map))).unwrap();
    let u = wgpu::BufferUsages::STORAGE;
    let xb = buffer_with(&device, &queue, 256, bytemuck::cast_slice(&logits), u);
    let mut padded = map.clone();
    padded.resize(map.len().next_multiple_of(4), 0);
    let tb = buffer_with(&device, &queue, 512, &padded, u);
    let gb = buffer_with(&device, &queue, 256, &vec![0u8; logits.len() * 4], u);
    let vb = buffer_with(&device, &queue, 4, &[0u8; 12], wgpu::BufferUsages::empty());
    let io = PlanIo {
        logits: BufferAt::new(&xb, 256),
        targets: BufferAt::new(&tb, 512),
        values: BufferAt::new(&vb, 4),
        grad: Some(BufferAt::new(&gb, 256)),
    };
    engine.submit_and_wait(|enc| plan.encode(enc, &io)).unwrap();
    let values: Vec<f32> = bytemuck::pod_collect_to_vec(&read(&device, &queue, &vb, 4, 12));
    assert_eq!(values[0].to_bits(), blocking.total.to_bits());
    assert_eq!(
        values[1..].iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        blocking.values.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
    let grad: Vec<f32> = bytemuck::pod_collect_to_vec(&read(&device, &queue, &gb, 256, (logits.len() * 4) as u64));
    assert!(grad.iter().zip(blocking.grad.as_ref().unwrap()).all(|(a, b)| a.to_bits() == b.to_bits()));
    // A class index ≥ C is an Err naming the pixel; wrong target kinds are rejected.
    let mut bad = map.clone();
    bad[17] = c as u8;
    let e = plan.run(LogitData::F32(&logits), TargetData::Classes(ClassMap::U8(&bad))).unwrap_err();
    assert!(e.to_string().contains("17") || matches!(e, Error::OutOfRange { .. }), "{e}");
    assert!(PlanDesc::multiclass(&[n, c, h, w], TargetFormat::F32, vec![]).is_err());
    let probs = PlanDesc::multiclass(&[n, c, h, w], TargetFormat::Classes8, vec![Loss::Dice(Dice::default()).batch()])
        .unwrap()
        .probabilities();
    assert!(engine.plan(probs).is_err());
    // Too large for one binding: a clear Err.
    let small = gpu_with(EngineOptions { max_storage_binding: Some(64 * 1024), ..Default::default() });
    let big = PlanDesc::multiclass(&[4, 5, 64, 64], TargetFormat::Classes8, vec![Loss::Dice(Dice::default()).batch()])
        .unwrap();
    let e = small.plan(big).unwrap_err();
    assert!(e.to_string().contains("within one storage binding"), "{e}");
}

#[test]
fn encode_reuses_bind_groups_only_for_the_same_buffers() {
    let (device, queue, engine) = caller_device();
    let dims = [2, 1, 21, 19];
    let plan = engine.plan(desc(&dims, vec![Loss::Dice(Dice::default()).per_image()]).with_gradient()).unwrap();
    let u = wgpu::BufferUsages::STORAGE;
    let mut sets = Vec::new();
    for seed in [1, 2] {
        let (x, t, _) = case(200 + seed, 2, 1, 21, 19, Mask::Hard, 2.0);
        let want = plan.run(LogitData::F32(&x), TargetData::F32(&t)).unwrap();
        let xb = buffer_with(&device, &queue, 0, bytemuck::cast_slice(&x), u);
        let tb = buffer_with(&device, &queue, 0, bytemuck::cast_slice(&t), u);
        let gb = buffer_with(&device, &queue, 0, &vec![0u8; x.len() * 4], u);
        sets.push((xb, tb, gb, want));
    }
    let vb = buffer_with(&device, &queue, 0, &[0u8; 8], wgpu::BufferUsages::empty());
    for &k in &[0usize, 0, 1, 0, 1, 1] {
        let (xb, tb, gb, want) = &sets[k];
        let io = PlanIo {
            logits: BufferAt::new(xb, 0),
            targets: BufferAt::new(tb, 0),
            values: BufferAt::new(&vb, 0),
            grad: Some(BufferAt::new(gb, 0)),
        };
        engine.submit_and_wait(|enc| plan.encode(enc, &io)).unwrap();
        let v: Vec<f32> = bytemuck::pod_collect_to_vec(&read(&device, &queue, &vb, 0, 8));
        assert_eq!(v[0].to_bits(), want.total.to_bits(), "set {k}");
        let g: Vec<f32> = bytemuck::pod_collect_to_vec(&read(&device, &queue, gb, 0, gb.size() - 300));
        let w = want.grad.as_ref().unwrap();
        assert!(g[..w.len()].iter().zip(w).all(|(a, b)| a.to_bits() == b.to_bits()), "set {k} gradient");
    }
}

#[test]
fn plans_count_undefined_images_as_asked() {
    let gpu = gpu();
    let (x, mut t, dims) = case(300, 3, 2, 11, 13, Mask::Hard, 2.0);
    // Image 1 fully ignored: its per-image losses are undefined.
    t[2 * 11 * 13..4 * 11 * 13].iter_mut().for_each(|v| *v = 255.0);
    let terms = vec![
        Loss::Dice(Dice::default()).per_image().counting_undefined_images(1.0),
        Loss::Iou(Iou::default()).per_image().counting_undefined_images(0.25).weighted(2.0),
        Loss::Tversky(Tversky::default()).per_image(),
        Loss::Dice(Dice::default()).batch().counting_undefined_images(1.0),
    ];
    let d = desc(&dims, terms).ignore_value(255.0).with_gradient();
    let want = reference(&x, &t, &d);
    let got = gpu.plan(d).unwrap().run(LogitData::F32(&x), TargetData::F32(&t)).unwrap();
    assert_matches_reference("undefined images", &got, &want, 2e-5);
    assert!((got.values[0] - got.values[2]).abs() > 1e-3, "counting the undefined image changed nothing");
}
