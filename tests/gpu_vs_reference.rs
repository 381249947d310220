//! GPU f32 against the float64 reference: every loss × parameter set × aggregation, on
//! fresh random inputs (hard, soft, empty, full masks; logits ±80; probabilities; ignore),
//! at odd sizes up to ≥ 16M pixels; determinism; chunked inputs; one pass for all losses.
mod common;
use common::*;
use segloss::*;

fn compare(gpu: &Engine, what: &str, batch: &BinaryBatch) {
    for (k, req) in requests().iter().enumerate() {
        let got = gpu.forward(batch, req).unwrap_or_else(|e| panic!("{what} request {k}: {e}"));
        let want = Engine::cpu().forward(batch, req).unwrap();
        assert_values(&format!("{what} request {k}"), &got, &want);
    }
}

const SIZES: [(usize, usize, usize); 4] = [(1, 1, 1), (1, 3, 5), (2, 257, 263), (4, 512, 512)];

#[test]
fn all_losses_match_reference_on_every_mask_and_size() {
    let gpu = gpu();
    let mut rng = Rng::new(0x5e91055);
    for (n, h, w) in SIZES {
        for mask in [Mask::Hard, Mask::Soft, Mask::Empty, Mask::Full] {
            let (x, t) = make_case(&mut rng, n, h, w, mask, 2.0);
            let batch = BinaryBatch::new(&x, &t, &[n, 1, h, w]).unwrap();
            compare(&gpu, &format!("{n}x{h}x{w} {mask:?}"), &batch);
        }
    }
}

#[test]
fn extreme_logits_match_reference() {
    let gpu = gpu();
    let mut rng = Rng::new(80);
    for mask in [Mask::Hard, Mask::Soft, Mask::Empty, Mask::Full] {
        let (mut x, t) = make_case(&mut rng, 2, 37, 41, mask, 1.0);
        // ±80 everywhere, right and wrong; a few ±1e30 too.
        for (i, v) in x.iter_mut().enumerate() {
            *v = if v.is_sign_positive() { 80.0 } else { -80.0 };
            if i % 97 == 0 {
                *v *= 1e28;
            }
        }
        let batch = BinaryBatch::new(&x, &t, &[2, 37, 41]).unwrap();
        compare(&gpu, &format!("±80 {mask:?}"), &batch);
    }
}

#[test]
fn probabilities_and_ignore_match_reference() {
    let gpu = gpu();
    let mut rng = Rng::new(7);
    let (n, h, w) = (3, 61, 67);
    let (x, mut t) = make_case(&mut rng, n, h, w, Mask::Hard, 2.0);
    let mut p: Vec<f32> = x.iter().map(|&v| (1.0 / (1.0 + (-v as f64).exp())) as f32).collect();
    p[5] = 0.0;
    p[6] = 1.0;
    for (i, v) in t.iter_mut().enumerate() {
        if i % 7 == 3 {
            *v = 255.0;
        }
    }
    // Image 2 entirely ignored: it counts nowhere.
    for v in &mut t[2 * h * w..] {
        *v = 255.0;
    }
    let logits = BinaryBatch::new(&x, &t, &[n, h, w]).unwrap().ignore_value(255.0).unwrap();
    compare(&gpu, "ignore", &logits);
    let probs = BinaryBatch::new(&p, &t, &[n, h, w]).unwrap().ignore_value(255.0).unwrap().probabilities();
    compare(&gpu, "probabilities+ignore", &probs);
    let f = gpu.forward(&logits, &requests()[0]).unwrap();
    assert_eq!(f.stats[2].count, 0);
    assert!(f.stats[0].count > 0 && f.stats[0].count < (h * w) as u64);
}

#[test]
fn portable_and_subgroup_reductions_both_match() {
    let mut rng = Rng::new(11);
    let (x, t) = make_case(&mut rng, 2, 257, 263, Mask::Soft, 3.0);
    let batch = BinaryBatch::new(&x, &t, &[2, 257, 263]).unwrap();
    let portable = gpu_with(EngineOptions { subgroups: SubgroupMode::Off, ..Default::default() });
    assert!(!portable.info().subgroups);
    compare(&portable, "portable", &batch);
    match Engine::with_options(EngineOptions { subgroups: SubgroupMode::Require, ..Default::default() }) {
        Ok(sub) => {
            assert!(sub.info().subgroups);
            compare(&sub, "subgroup", &batch);
        }
        // Only adapters without subgroups may refuse (GL, llvmpipe); say so in the log.
        Err(Error::MissingFeature { .. }) => {
            eprintln!("adapter {:?} has no subgroups: portable path only", portable.info())
        }
        Err(e) => panic!("{e}"),
    }
}

/// The second forward stage has one kernel per strategy (`SortStrategy`): a tree per
/// segment (`Blocks`) or one invocation per segment (`Lanes`, CPU adapters). Both are tested
/// on every backend, whichever the adapter would choose: every binary request, one chunk and
/// many (and many segments per chunk), and multiclass rows (C = 19, 2 images).
#[test]
fn both_final_reductions_match_reference() {
    let mut rng = Rng::new(12);
    let (x, t) = make_case(&mut rng, 2, 257, 263, Mask::Soft, 3.0);
    let batch = BinaryBatch::new(&x, &t, &[2, 257, 263]).unwrap();
    let (xs, ts) = make_case(&mut rng, 700, 3, 5, Mask::Hard, 2.0);
    let many = BinaryBatch::new(&xs, &ts, &[700, 3, 5]).unwrap();
    let (c, hw) = (19, 37 * 41);
    let map: Vec<u32> = (0..2 * hw).map(|_| (rng.next_u64() % c as u64) as u32).collect();
    let logits: Vec<f32> = (0..2 * c * hw).map(|_| (2.0 * rng.normal()) as f32).collect();
    let classes = MulticlassBatch::new(&logits, ClassMap::U32(&map), &[2, c, 37, 41]).unwrap();
    let class_terms = [Loss::DiceCe(DiceCe::default()).per_image(), Loss::Dice(Dice::default()).batch()];
    let want = Engine::cpu().forward(&classes, &class_terms).unwrap();
    for sort in [SortStrategy::Blocks, SortStrategy::Lanes] {
        for binding in [None, Some(64 * 1024)] {
            let gpu = gpu_with(EngineOptions { sort, max_storage_binding: binding, ..Default::default() });
            assert_eq!(gpu.info().sort, sort);
            let what = format!("{sort:?}, binding {binding:?}");
            compare(&gpu, &what, &batch);
            compare(&gpu, &format!("{what}, 700 images"), &many);
            assert_values(&format!("{what}, multiclass"), &gpu.forward(&classes, &class_terms).unwrap(), &want);
        }
    }
}

#[test]
fn sixteen_million_pixels_match_reference() {
    let gpu = gpu();
    let mut rng = Rng::new(16);
    let (n, h, w) = (1, 4099, 4097); // 16.79M pixels, odd
    let (x, t) = make_case(&mut rng, n, h, w, Mask::Hard, 2.0);
    let batch = BinaryBatch::new(&x, &t, &[n, h, w]).unwrap();
    let req = &requests()[1];
    let got = gpu.forward(&batch, req).unwrap();
    let want = Engine::cpu().forward(&batch, req).unwrap();
    assert_values("16M", &got, &want);
}

#[test]
fn inputs_larger_than_one_binding_are_chunked_exactly() {
    // 64 KiB bindings: 16384 floats per chunk, so 2×257×263 takes 9 chunks, one image
    // split across chunks; tiny images exercise the many-segments-per-chunk path.
    let small = gpu_with(EngineOptions { max_storage_binding: Some(64 * 1024), ..Default::default() });
    let mut rng = Rng::new(64);
    for (n, h, w) in [(2, 257, 263), (3000, 3, 5), (1, 1, 1)] {
        let (x, t) = make_case(&mut rng, n, h, w, Mask::Soft, 2.0);
        let batch = BinaryBatch::new(&x, &t, &[n, h, w]).unwrap();
        compare(&small, &format!("chunked {n}x{h}x{w}"), &batch);
        let f = small.forward(&batch, &requests()[0]).unwrap();
        let per_chunk = (h * w * 1023).min(16384); // whole binding, or 1023 images (64-byte rows)
        assert_eq!(f.dispatches.forward_passes, (n * h * w).div_ceil(per_chunk), "chunks of {n}x{h}x{w}");
    }
}

#[test]
fn many_losses_cost_one_pass() {
    let gpu = gpu();
    let mut rng = Rng::new(1);
    let (x, t) = make_case(&mut rng, 4, 64, 64, Mask::Hard, 2.0);
    let batch = BinaryBatch::new(&x, &t, &[4, 64, 64]).unwrap();
    let all = &requests()[0];
    assert!(all.len() >= 30);
    let f = gpu.forward(&batch, all).unwrap();
    assert_eq!(f.dispatches, DispatchCount { forward_passes: 1, backward_passes: 0 });
    let one = gpu.forward(&batch, &all[..1]).unwrap();
    assert_eq!(one.dispatches, f.dispatches);
    let g = gpu.value_and_grad(&batch, all).unwrap();
    assert_eq!(g.forward.dispatches, DispatchCount { forward_passes: 1, backward_passes: 1 });
}

#[test]
fn five_runs_are_bit_identical() {
    let gpu = gpu();
    let mut rng = Rng::new(5);
    let (x, t) = make_case(&mut rng, 4, 512, 512, Mask::Soft, 2.0);
    let batch = BinaryBatch::new(&x, &t, &[4, 512, 512]).unwrap();
    let req = &requests()[0];
    let first = gpu.forward(&batch, req).unwrap();
    for _ in 0..4 {
        let again = gpu.forward(&batch, req).unwrap();
        let bits = |f: &Forward| f.values.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&again), bits(&first));
        assert_eq!(again.stats, first.stats);
    }
}

#[test]
fn engine_reports_its_adapter() {
    let gpu = gpu();
    let info = gpu.info();
    assert!(!info.name.is_empty() && !info.backend.is_empty() && !info.device_type.is_empty());
    eprintln!("adapter: {info:?}");
    // CI runs the suite once per backend: make sure the one asked for is the one used.
    if let Ok(wanted) = std::env::var("WGPU_BACKEND") {
        assert!(
            info.backend.eq_ignore_ascii_case(&wanted),
            "WGPU_BACKEND={wanted} but the engine runs on {}",
            info.backend
        );
    }
    assert_eq!(Engine::cpu().info().backend, "cpu-f64");
}

#[test]
fn engine_runs_on_the_callers_device() {
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapter = pollster::block_on(wgpu::util::initialize_adapter_from_env_or_default(&instance, None))
        .expect("GPU tests need an adapter");
    let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor::default()))
        .expect("the adapter gives a default device");
    let engine = Engine::from_device(device, queue).unwrap();
    assert_eq!(engine.info().name, adapter.get_info().name);
    // A default device has no SUBGROUP feature: the portable reduction is used.
    assert!(!engine.info().subgroups);
    let mut rng = Rng::new(21);
    let (x, t) = make_case(&mut rng, 2, 33, 35, Mask::Soft, 2.0);
    let batch = BinaryBatch::new(&x, &t, &[2, 33, 35]).unwrap();
    compare(&engine, "caller's device", &batch);
}
