//! Engines under load and under failure: shared between threads, given commands that fail
//! GPU validation, and left with a lost device. (The 10 000-call soak is tests/soak.rs.)
mod common;
use common::*;
use segloss::wgpu;
use segloss::*;

fn binary_case(seed: u64) -> (Vec<f32>, Vec<f32>) {
    make_case(&mut Rng::new(seed), 2, 19, 23, Mask::Hard, 2.0)
}

fn terms() -> Vec<Term> {
    vec![
        Loss::Dice(Dice::default()).batch(),
        Loss::Focal(Focal::default()).per_image(),
        Loss::Iou(Iou::default()).per_image(),
    ]
}

fn bits(v: &ValueAndGrad) -> (Vec<u64>, Vec<u32>) {
    (v.forward.values.iter().map(|x| x.to_bits()).collect(), v.grad.iter().map(|x| x.to_bits()).collect())
}

#[test]
fn eight_threads_times_100_calls_give_the_bits_of_sequential_calls() {
    let engine = gpu();
    let cases: Vec<_> = (0..8).map(|s| binary_case(100 + s)).collect();
    let (n, c, h, w) = (2, 3, 9, 11);
    let mut rng = Rng::new(7);
    let logits: Vec<f32> = (0..n * c * h * w).map(|_| (2.0 * rng.normal()) as f32).collect();
    let map: Vec<u32> = (0..n * h * w).map(|_| (rng.uniform() * c as f64) as u32).collect();
    let mc_terms = vec![Loss::CrossEntropy(CrossEntropy::default()).batch(), Loss::Dice(Dice::default()).per_image()];
    let mc = MulticlassBatch::new(&logits, ClassMap::U32(&map), &[n, c, h, w]).unwrap();
    let plan = engine.plan(PlanDesc::binary(&[2, 19, 23], terms()).unwrap().with_gradient()).unwrap();
    let sequential: Vec<_> = cases
        .iter()
        .map(|(x, t)| {
            let b = BinaryBatch::new(x, t, &[2, 19, 23]).unwrap();
            let p = plan.run(LogitData::F32(x), TargetData::F32(t)).unwrap();
            (bits(&engine.value_and_grad(&b, &terms()).unwrap()), p)
        })
        .collect();
    let mc_want = bits(&engine.value_and_grad(&mc, &mc_terms).unwrap());
    std::thread::scope(|s| {
        for (k, (x, t)) in cases.iter().enumerate() {
            let (engine, plan, sequential, mc_terms, mc_want) = (&engine, &plan, &sequential, &mc_terms, &mc_want);
            s.spawn(move || {
                let b = BinaryBatch::new(x, t, &[2, 19, 23]).unwrap();
                for call in 0..100 {
                    match call % 3 {
                        0 => assert_eq!(
                            bits(&engine.value_and_grad(&b, &terms()).unwrap()),
                            sequential[k].0,
                            "thread {k} call {call}"
                        ),
                        1 => assert_eq!(
                            plan.run(LogitData::F32(x), TargetData::F32(t)).unwrap(),
                            sequential[k].1,
                            "thread {k} call {call}"
                        ),
                        _ => assert_eq!(
                            &bits(&engine.value_and_grad(&mc, mc_terms).unwrap()),
                            mc_want,
                            "thread {k} call {call}"
                        ),
                    }
                }
            });
        }
    });
}

#[test]
fn a_gpu_validation_error_is_an_err_and_the_engine_still_works() {
    let engine = gpu();
    let (device, queue) = engine.device().unwrap();
    let (x, t) = binary_case(5);
    let plan = engine.plan(PlanDesc::binary(&[2, 19, 23], terms()).unwrap().with_gradient()).unwrap();
    let make = |data: &[f32]| {
        let b = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("caller"),
            size: (data.len() * 4) as u64,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        queue.write_buffer(&b, 0, bytemuck::cast_slice(data));
        b
    };
    let (xb, tb, gb, vb) = (make(&x), make(&t), make(&x), make(&[0.0; 4]));
    let io = PlanIo {
        logits: BufferAt::new(&xb, 0),
        targets: BufferAt::new(&tb, 0),
        values: BufferAt::new(&vb, 0),
        grad: Some(BufferAt::new(&gb, 0)),
    };
    engine.submit_and_wait(|enc| plan.encode(enc, &io)).unwrap();
    // A destroyed caller buffer passes the plan's own checks; wgpu rejects the submission.
    xb.destroy();
    let e = engine.submit_and_wait(|enc| plan.encode(enc, &io)).unwrap_err();
    assert!(matches!(e, Error::Gpu { .. }), "{e}");
    // The engine, the plan and the blocking API still work.
    let b = BinaryBatch::new(&x, &t, &[2, 19, 23]).unwrap();
    let want = Engine::cpu().value_and_grad(&b, &terms()).unwrap();
    assert_values("after the error", &engine.forward(&b, &terms()).unwrap(), &want.forward);
    plan.run(LogitData::F32(&x), TargetData::F32(&t)).unwrap();
}

#[test]
fn a_lost_device_is_an_err_and_a_new_engine_works() {
    let (x, t) = binary_case(6);
    let b = BinaryBatch::new(&x, &t, &[2, 19, 23]).unwrap();
    let engine = gpu();
    engine.forward(&b, &terms()).unwrap();
    engine.device().unwrap().0.destroy();
    let e = engine.forward(&b, &terms()).unwrap_err();
    assert!(matches!(e, Error::Gpu { .. }), "{e}");
    let again = gpu();
    let want = Engine::cpu().forward(&b, &terms()).unwrap();
    assert_values("new engine", &again.forward(&b, &terms()).unwrap(), &want);
}
