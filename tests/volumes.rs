//! Volumes `[N, C, D, H, W]` (and other spatial ranks) through batches and plans: the GPU
//! against the f64 reference on random volumes with odd sizes, the same data laid out as
//! images (`[N, C, D·H, W]`) giving the same bits on the same engine (the losses here treat an
//! image's voxels as one segment), and shapes that must be refused, naming what is wrong.
//! The peers' own numbers on volumes are in the `vol_*` fixtures (`tests/presets.rs`).
mod common;
use common::*;
use segloss::*;

const VOLUME: [usize; 3] = [5, 6, 7];

fn lovasz_terms() -> Vec<Term> {
    vec![Loss::LovaszHinge(LovaszHinge).per_image(), Loss::LovaszHinge(LovaszHinge).batch()]
}

#[test]
fn binary_and_multilabel_volumes_match_the_reference_and_the_flat_layout() {
    let _serial = serial();
    let gpu = shared_gpu();
    let [d, h, w] = VOLUME;
    for (seed, c) in [(0x701u64, 1usize), (0x702, 3)] {
        let n = 2;
        let mut rng = Rng::new(seed);
        let mask = if c == 1 { Mask::Hard } else { Mask::Soft };
        let (x, t) = make_case(&mut rng, n * c, d * h, w, mask, 3.0);
        let vol = [n, c, d, h, w];
        let flat = [n, c, d * h, w];
        let batch = |dims: &[usize]| {
            if c == 1 {
                BinaryBatch::new(&x, &t, dims).unwrap()
            } else {
                BinaryBatch::multilabel(&x, &t, dims).unwrap()
            }
        };
        let (bv, bf) = (batch(&vol), batch(&flat));
        assert_eq!(bv.shape.spatial(), &VOLUME[..]);
        assert_eq!(bv.shape.pixels(), d * h * w);
        let mut reqs = requests();
        if c == 1 {
            reqs.push(lovasz_terms());
        }
        for (r, req) in reqs.iter().enumerate() {
            let what = format!("C={c} request {r}");
            let got = gpu.value_and_grad(&bv, req).unwrap_or_else(|e| panic!("{what}: {e}"));
            let want = Engine::cpu().value_and_grad(&bv, req).unwrap();
            assert_values(&what, &got.forward, &want.forward);
            let w64: Vec<f64> = want.grad.iter().map(|&v| v as f64).collect();
            assert_grad(&what, &got.grad, &w64, 1e-5, 1e-9);
            // The flat layout is the same computation: same bits.
            let same = gpu.value_and_grad(&bf, req).unwrap();
            assert_eq!(got.forward.values, same.forward.values, "{what}: volume vs flat values");
            assert_eq!(got.grad, same.grad, "{what}: volume vs flat gradient");
        }
    }
}

#[test]
fn multiclass_volumes_match_the_reference_and_the_flat_layout() {
    let _serial = serial();
    let gpu = shared_gpu();
    let [d, h, w] = VOLUME;
    let (n, c) = (2, 4);
    let mut rng = Rng::new(0x703);
    let vox = d * h * w;
    let logits: Vec<f32> = (0..n * c * vox).map(|_| (2.0 * rng.normal()) as f32).collect();
    let map: Vec<u16> =
        (0..n * vox).map(|_| if rng.uniform() < 0.1 { 255 } else { (rng.next_u64() % 4) as u16 }).collect();
    let vol = MulticlassBatch::new(&logits, ClassMap::U16(&map), &[n, c, d, h, w]).unwrap().ignore_index(255);
    let flat = MulticlassBatch::new(&logits, ClassMap::U16(&map), &[n, c, d * h, w]).unwrap().ignore_index(255);
    let both = |l: Loss| [l.batch(), l.per_image()];
    let reqs: Vec<Vec<Term>> = vec![
        [
            Loss::Dice(Dice::default()),
            Loss::CrossEntropy(CrossEntropy::default()),
            Loss::DiceCe(DiceCe::default()),
            Loss::Tversky(Tversky { alpha: 0.3, beta: 0.7, ..Tversky::default() }),
            Loss::GeneralizedDice(GeneralizedDice::default()),
            Loss::Focal(Focal::default()),
        ]
        .into_iter()
        .flat_map(both)
        .collect(),
        both(Loss::LovaszSoftmax(LovaszSoftmax::default())).to_vec(),
    ];
    for (r, req) in reqs.iter().enumerate() {
        let what = format!("multiclass request {r}");
        let got = gpu.value_and_grad(&vol, req).unwrap_or_else(|e| panic!("{what}: {e}"));
        let want = Engine::cpu().value_and_grad(&vol, req).unwrap();
        for ((term, g), wv) in req.iter().zip(&got.forward.values).zip(&want.forward.values) {
            assert!(close(*g, *wv, 1e-5, 1e-7), "{what}: {}: GPU {g} vs reference {wv}", term.label());
        }
        assert_eq!(got.forward.confusion, want.forward.confusion, "{what}: confusion");
        let w64: Vec<f64> = want.grad.iter().map(|&v| v as f64).collect();
        assert_grad(&what, &got.grad, &w64, 1e-5, 1e-9);
        let same = gpu.value_and_grad(&flat, req).unwrap();
        assert_eq!(got.forward.values, same.forward.values, "{what}: volume vs flat values");
        assert_eq!(got.grad, same.grad, "{what}: volume vs flat gradient");
    }
}

#[test]
fn plans_take_volumes() {
    let _serial = serial();
    let gpu = shared_gpu();
    let [d, h, w] = VOLUME;
    let (n, c) = (3, 2);
    let mut rng = Rng::new(0x704);
    let (x, t) = make_case(&mut rng, n * c, d * h, w, Mask::Hard, 2.0);
    let terms = vec![Loss::Dice(Dice::default()).per_image(), Loss::Bce(Bce::default()).batch()];
    let mut desc = PlanDesc::multilabel(&[n, c, d, h, w], terms.clone()).unwrap();
    desc.gradient = true;
    assert_eq!(desc.shape.spatial(), &VOLUME[..]);
    let plan = gpu.plan(desc).unwrap();
    let out = plan.run(LogitData::F32(&x), TargetData::F32(&t)).unwrap();
    let want =
        Engine::cpu().value_and_grad(&BinaryBatch::multilabel(&x, &t, &[n, c, d, h, w]).unwrap(), &terms).unwrap();
    for ((term, g), wv) in terms.iter().zip(&out.values).zip(&want.forward.values) {
        assert!(close(*g as f64, *wv, 1e-5, 1e-6), "{}: plan {g} vs reference {wv}", term.label());
    }
    let w64: Vec<f64> = want.grad.iter().map(|&v| v as f64).collect();
    assert_grad("volume plan", out.grad.as_ref().unwrap(), &w64, 1e-5, 1e-9);

    let map: Vec<u8> = (0..n * d * h * w).map(|_| (rng.next_u64() % 3) as u8).collect();
    let logits: Vec<f32> = (0..n * 3 * d * h * w).map(|_| rng.normal() as f32).collect();
    let mterms = vec![Loss::DiceCe(DiceCe::default()).batch()];
    let mut mdesc = PlanDesc::multiclass(&[n, 3, d, h, w], TargetFormat::Classes8, mterms.clone()).unwrap();
    mdesc.gradient = true;
    let mout = gpu.plan(mdesc).unwrap().run(LogitData::F32(&logits), TargetData::Classes(ClassMap::U8(&map))).unwrap();
    let mb = MulticlassBatch::new(&logits, ClassMap::U8(&map), &[n, 3, d, h, w]).unwrap();
    let mwant = Engine::cpu().value_and_grad(&mb, &mterms).unwrap();
    assert!(
        close(mout.values[0] as f64, mwant.forward.values[0], 1e-5, 1e-6),
        "{} vs {}",
        mout.values[0],
        mwant.forward.values[0]
    );
}

#[test]
fn other_spatial_ranks_are_one_segment_per_image() {
    // [N, C, L] and a 4-D spatial shape: the same pixels as [N, C, L, 1].
    let _serial = serial();
    let mut rng = Rng::new(0x705);
    let (x, t) = make_case(&mut rng, 2, 3 * 4 * 5, 2, Mask::Hard, 2.0);
    let terms = vec![Loss::Dice(Dice::default()).per_image(), Loss::Focal(Focal::default()).batch()];
    let cpu = Engine::cpu();
    let base = cpu.value_and_grad(&BinaryBatch::new(&x, &t, &[2, 1, 120, 1]).unwrap(), &terms).unwrap();
    for dims in [vec![2, 1, 120], vec![2, 1, 3, 4, 5, 2], vec![2, 1, 2, 3, 4, 5]] {
        let b = BinaryBatch::new(&x, &t, &dims).unwrap();
        assert_eq!(b.shape.pixels(), 120, "{dims:?}");
        let got = cpu.value_and_grad(&b, &terms).unwrap();
        assert_eq!(got.forward.values, base.forward.values, "{dims:?}");
        assert_eq!(got.grad, base.grad, "{dims:?}");
    }
}

#[test]
fn bad_volume_shapes_are_refused_with_their_reason() {
    let x = vec![0.0f32; 2 * 3 * 4 * 5];
    let map = [0u8; 2 * 3 * 4 * 5];
    let reason = |e: Error| match e {
        Error::InvalidShape { reason, .. } => reason,
        Error::ShapeMismatch { tensor, expected, actual, .. } => format!("{tensor:?} {expected} {actual}"),
        e => panic!("unexpected error {e}"),
    };
    // Two channels in binary mode.
    let e = BinaryBatch::new(&x, &x, &[1, 2, 3, 4, 5]).unwrap_err();
    assert!(reason(e).contains("one channel"));
    // No spatial dim, too many spatial dims, a zero dim.
    assert!(reason(BinaryBatch::multilabel(&x, &x, &[2, 60]).unwrap_err()).contains("0 spatial dimensions"));
    let seven = [1, 1, 2, 3, 4, 5, 1, 1, 1];
    assert!(reason(BinaryBatch::new(&x, &x, &seven).unwrap_err()).contains("spatial dimensions"));
    assert!(reason(BinaryBatch::new(&x, &x, &[2, 1, 3, 0, 5]).unwrap_err()).contains("empty"));
    // Element counts that do not match the dims.
    assert!(reason(BinaryBatch::new(&x, &x[1..], &[2, 1, 3, 4, 5]).unwrap_err()).starts_with("Target"));
    let e = MulticlassBatch::new(&x, ClassMap::U8(&map[..59]), &[1, 2, 3, 4, 5]).unwrap_err();
    assert!(reason(e).starts_with("Target 60 59"));
    assert!(PlanDesc::multiclass(&[2, 3, 4, 5], TargetFormat::Classes8, vec![]).is_ok());
    assert!(PlanDesc::multilabel(&[2, 3], vec![]).is_err());
}

#[test]
fn volume_losses_without_a_gpu_have_lovasz_too() {
    // Lovasz on a volume through the reference: per image equals each image alone.
    let [d, h, w] = VOLUME;
    let mut rng = Rng::new(0x706);
    let (x, t) = make_case(&mut rng, 2, d * h, w, Mask::Hard, 3.0);
    let cpu = Engine::cpu();
    let both = cpu.forward(&BinaryBatch::new(&x, &t, &[2, 1, d, h, w]).unwrap(), &lovasz_terms()[..1]).unwrap();
    let v = d * h * w;
    let each: f64 = (0..2)
        .map(|i| {
            let b = BinaryBatch::new(&x[i * v..(i + 1) * v], &t[i * v..(i + 1) * v], &[1, 1, d, h, w]).unwrap();
            cpu.forward(&b, &lovasz_terms()[..1]).unwrap().values[0]
        })
        .sum();
    assert!(close(both.values[0], each / 2.0, 1e-12, 1e-15), "{} vs {}", both.values[0], each / 2.0);
}
