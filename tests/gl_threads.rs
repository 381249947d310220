//! One engine shared by threads whose first calls compile shaders: on wgpu's GL backend with
//! Mesa's shader cache off, a thread used to wait over a second for the GL context and wgpu-hal
//! panicked ("Could not lock adapter context"). Blocking calls now take turns per context on GL.
//! Runs on every backend (on the others it is a plain concurrency check); its own binary, so the
//! cache setting applies before any engine exists.
mod common;
use common::*;
use segloss::*;

#[test]
fn threads_sharing_a_cold_engine_do_not_panic() {
    // Before any GPU object exists in this process: Mesa reads it when the driver loads.
    // SAFETY: no other thread runs yet in this test binary's only test.
    unsafe { std::env::set_var("MESA_SHADER_CACHE_DISABLE", "true") };
    let engine = std::sync::Arc::new(gpu());
    let handles: Vec<_> = (0..6)
        .map(|k| {
            let e = engine.clone();
            std::thread::spawn(move || {
                let mut rng = Rng::new(k as u64);
                let (x, t) = make_case(&mut rng, 2 * 3, 48, 40, Mask::Hard, 2.0);
                let map: Vec<u8> = (0..2 * 48 * 40).map(|i| (i % 3) as u8).collect();
                let dims = [2, 3, 48, 40];
                for _ in 0..2 {
                    match k % 3 {
                        0 => {
                            let b = BinaryBatch::multilabel(&x, &t, &dims).unwrap();
                            let terms =
                                [Loss::Dice(Dice::default()).batch(), Loss::LovaszHinge(LovaszHinge).per_image()];
                            e.value_and_grad(&b, &terms).map(|_| ())
                        }
                        1 => {
                            let m = MulticlassBatch::new(&x, ClassMap::U8(&map), &dims).unwrap();
                            let terms = [
                                Loss::LovaszSoftmax(LovaszSoftmax::default()).batch(),
                                Loss::DiceCe(DiceCe::default()).batch(),
                            ];
                            e.value_and_grad(&m, &terms).map(|_| ())
                        }
                        _ => {
                            let keys: Vec<u32> = (0..50_000u32).rev().collect();
                            let values: Vec<u32> = (0..50_000u32).collect();
                            e.sort_pairs(&keys, &values, usize::MAX).map(|_| ())
                        }
                    }
                    .unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("a thread panicked");
    }
}
