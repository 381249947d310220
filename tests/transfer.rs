//! Both ways of moving data (`Transfer`): `Staged` (queue and staging buffers) and `Direct`
//! (storage buffers the host maps; the default on CPU adapters that allow it) run the same
//! kernels on the same bytes, so their values, statistics and gradients must be identical to
//! the bit — in one chunk and streamed in many (re-uploads for the backward, multiclass
//! chunks that split an image, whose class planes land at offsets that are not multiples of
//! 8), and for Lovasz softmax, which uploads its chunks once for every class. An adapter
//! without mappable storage buffers (wgpu's GL backend) refuses `Direct` by name.
mod common;
use common::*;
use segloss::*;

fn engine(transfer: Transfer, max_storage_binding: Option<u64>) -> Result<Engine> {
    Engine::with_options(EngineOptions { transfer, max_storage_binding, ..Default::default() })
}

fn same_bits(what: &str, a: &ValueAndGrad, b: &ValueAndGrad) {
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&a.forward.values), bits(&b.forward.values), "{what}: values");
    assert_eq!(format!("{:?}", a.forward.stats), format!("{:?}", b.forward.stats), "{what}: statistics");
    let gbits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(gbits(&a.grad), gbits(&b.grad), "{what}: gradient");
}

#[test]
fn staged_and_direct_transfers_give_the_same_bits() {
    let staged = gpu_with(EngineOptions { transfer: Transfer::Staged, ..Default::default() });
    assert_eq!(staged.info().transfer, Transfer::Staged);
    let Ok(direct) = engine(Transfer::Direct, None) else {
        // Only where the adapter has no mappable storage buffers: then it must say so.
        let err = engine(Transfer::Direct, None).err().unwrap();
        assert!(err.to_string().contains("MAPPABLE_PRIMARY_BUFFERS"), "{err}");
        assert_eq!(gpu().info().transfer, Transfer::Staged, "Auto without the feature");
        assert_eq!(gpu().info().backend, "gl", "only wgpu's GL backend lacks mappable storage buffers here");
        return;
    };
    assert_eq!(direct.info().transfer, Transfer::Direct);
    if gpu().info().device_type == "Cpu" {
        assert_eq!(gpu().info().transfer, Transfer::Direct, "Auto on a CPU adapter with the feature");
    }
    // Small bindings: the batch streams in chunks (and multiclass images split by pixels).
    let small = 64 * 1024;
    let pairs = [
        ("one chunk", staged, direct),
        ("chunked", engine(Transfer::Staged, Some(small)).unwrap(), engine(Transfer::Direct, Some(small)).unwrap()),
    ];
    let mut rng = Rng::new(808);
    let (n, h, w) = (3, 97, 89); // 25 899 elements: several chunks of 16 384
    let (x, t) = make_case(&mut rng, n, h, w, Mask::Soft, 3.0);
    let binary = BinaryBatch::new(&x, &t, &[n, h, w]).unwrap();
    // 5 × 3 763 elements per image: each image splits into planes of 3 276 and 487 pixels.
    let (c, hw) = (5, 71 * 53);
    let map: Vec<u8> = (0..2 * hw).map(|_| (rng.next_u64() % c as u64) as u8).collect();
    let logits: Vec<f32> = (0..2 * c * hw).map(|_| (2.0 * rng.normal()) as f32).collect();
    let multiclass = MulticlassBatch::new(&logits, ClassMap::U8(&map), &[2, c, 71, 53]).unwrap();
    let binary_terms = &requests()[0];
    let class_terms =
        [Loss::DiceCe(DiceCe::default()).per_image(), Loss::LovaszSoftmax(LovaszSoftmax::default()).batch()];
    for (what, a, b) in &pairs {
        let (ga, gb) =
            (a.value_and_grad(&binary, binary_terms).unwrap(), b.value_and_grad(&binary, binary_terms).unwrap());
        same_bits(&format!("{what}, binary"), &ga, &gb);
        let (ma, mb) = (
            a.value_and_grad(&multiclass, &class_terms).unwrap(),
            b.value_and_grad(&multiclass, &class_terms).unwrap(),
        );
        same_bits(&format!("{what}, multiclass"), &ma, &mb);
        // And both are right: against the f64 reference.
        let want = Engine::cpu().value_and_grad(&multiclass, &class_terms).unwrap();
        for (g, w) in mb.forward.values.iter().zip(&want.forward.values) {
            assert!(close(*g, *w, 1e-5, 1e-6), "{what}: multiclass value {g} against {w}");
        }
        let want_grad: Vec<f64> = want.grad.iter().map(|&v| v as f64).collect();
        assert_grad(&format!("{what}: multiclass"), &mb.grad, &want_grad, 1e-5, 1e-8);
    }
}
