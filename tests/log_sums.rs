//! The log-loss sums (Σ BCE, Σ focal, Σ weighted CE) are computed only where a requested loss
//! reads them (`LogSums`): the rows of `Forward::stats` hold NaN for the others, on the GPU
//! and on the reference alike, and every other sum and count is what a pass computing all of
//! them gives. `Engine::stats` with the default parameters computes all three. A sharded
//! backward handed rows without a sum its terms read refuses them by the sum's name.
mod common;
use common::*;
use segloss::*;

/// Which log-loss sums each request reads, from the losses' definitions: Dice and Tversky
/// none; BCE its cross-entropy; Focal its focal sum; Combo the BCE and its β-weighted CE.
fn binary_requests() -> Vec<(Vec<Term>, LogSums)> {
    let none = LogSums::NONE;
    vec![
        (vec![Loss::Dice(Dice::default()).per_image()], none),
        (vec![Loss::Dice(Dice::default()).batch(), Loss::Tversky(Tversky::default()).per_image()], none),
        (vec![Loss::Bce(Bce::default()).batch()], LogSums { bce: true, ..none }),
        (vec![Loss::Focal(Focal::default()).per_image()], LogSums { focal: true, ..none }),
        (vec![Loss::Combo(Combo::default()).batch()], LogSums { bce: true, wce: true, ..none }),
        (
            vec![Loss::Dice(Dice::default()).batch(), Loss::Focal(Focal::default()).batch()],
            LogSums { focal: true, ..none },
        ),
        (
            vec![Loss::BceDice(BceDice::default()).batch(), Loss::Focal(Focal::default()).per_image()],
            LogSums { bce: true, focal: true, ..none },
        ),
    ]
}

/// `got` holds NaN exactly in the log-loss sums `sums` leaves out; every other slot equals
/// `all`'s (the f64 reference computing every sum) to float rounding.
fn assert_rows(what: &str, got: &[Stats], all: &[Stats], sums: LogSums) {
    assert_eq!(got.len(), all.len(), "{what}: rows");
    for (r, (g, a)) in got.iter().zip(all).enumerate() {
        for (name, computed, gv, av) in
            [("bce", sums.bce, g.bce, a.bce), ("focal", sums.focal, g.focal, a.focal), ("wce", sums.wce, g.wce, a.wce)]
        {
            if computed {
                assert!(close(gv, av, 1e-5, 1e-6), "{what} row {r}: Σ{name} {gv} against {av}");
            } else {
                assert!(gv.is_nan(), "{what} row {r}: Σ{name} = {gv}, but no requested term reads it");
            }
        }
        for (name, gv, av) in [("sp", g.sp, a.sp), ("st", g.st, a.st), ("tp", g.tp, a.tp), ("spp", g.spp, a.spp)] {
            assert!(close(gv, av, 1e-5, 1e-6), "{what} row {r}: Σ{name} {gv} against {av}");
        }
        assert_eq!(
            (g.count, g.hard_tp, g.hard_fp, g.hard_fn),
            (a.count, a.hard_tp, a.hard_fp, a.hard_fn),
            "{what} row {r}: counts"
        );
    }
}

#[test]
fn a_binary_forward_computes_only_the_log_sums_its_terms_read() {
    let gpu = gpu();
    let mut rng = Rng::new(4401);
    let (n, h, w) = (3, 37, 23);
    let (x, t) = make_case(&mut rng, n, h, w, Mask::Soft, 3.0);
    let batch = BinaryBatch::new(&x, &t, &[n, h, w]).unwrap();
    for (terms, sums) in binary_requests() {
        let what = format!("{:?}", terms.iter().map(|t| t.loss.name()).collect::<Vec<_>>());
        let pp = PixelParams::from_terms(&terms).unwrap();
        assert_eq!(pp.log_sums, sums, "{what}: PixelParams::from_terms");
        // Every sum, for the same per-pixel parameters, from the f64 reference.
        let all = Engine::cpu().stats(&batch, &PixelParams { log_sums: LogSums::ALL, ..pp }).unwrap();
        for row in &all {
            assert!(row.bce.is_finite() && row.focal.is_finite() && row.wce.is_finite(), "{what}: every sum");
        }
        for engine in [&gpu, &Engine::cpu()] {
            let full = engine.stats(&batch, &PixelParams { log_sums: LogSums::ALL, ..pp }).unwrap();
            assert_rows(&format!("{what}, every sum"), &full, &all, LogSums::ALL);
            let forward = engine.forward(&batch, &terms).unwrap();
            assert_rows(&what, &forward.stats, &all, sums);
            assert_rows(&what, &engine.value_and_grad(&batch, &terms).unwrap().forward.stats, &all, sums);
            assert_rows(&what, &engine.stats(&batch, &pp).unwrap(), &all, sums);
            // The values do not read what was left out.
            assert!(forward.values.iter().all(|v| v.is_finite()), "{what}: values {:?}", forward.values);
        }
    }
}

#[test]
fn a_multiclass_forward_computes_only_the_log_sums_its_terms_read() {
    let gpu = gpu();
    let mut rng = Rng::new(4402);
    let (n, c, h, w) = (2, 5, 19, 21);
    let hw = h * w;
    let map: Vec<u32> = (0..n * hw).map(|_| (rng.next_u64() % c as u64) as u32).collect();
    let logits: Vec<f32> = (0..n * c * hw).map(|_| (2.0 * rng.normal()) as f32).collect();
    let batch = MulticlassBatch::new(&logits, ClassMap::U32(&map), &[n, c, h, w]).unwrap();
    let none = LogSums::NONE;
    for (terms, sums) in [
        (vec![Loss::Dice(Dice::default()).batch()], none),
        (vec![Loss::DiceCe(DiceCe::default()).batch()], LogSums { bce: true, wce: true, ..none }),
        (vec![Loss::CrossEntropy(CrossEntropy::default()).per_image()], LogSums { bce: true, wce: true, ..none }),
        (vec![Loss::Focal(Focal::default()).batch()], LogSums { focal: true, ..none }),
    ] {
        let what = format!("multiclass {}", terms[0].loss.name());
        let pp = PixelParams::from_terms(&terms).unwrap();
        assert_eq!(pp.log_sums, sums, "{what}: PixelParams::from_terms");
        // Every sum: the same request with all three log sums added by a cross-entropy and
        // a focal term (γ agreeing), whose rows are the ones a full pass gives.
        let mut everything = terms.clone();
        everything.push(Loss::CrossEntropy(CrossEntropy::default()).batch());
        everything.push(Loss::Focal(Focal::default()).batch());
        let all = Engine::cpu().forward(&batch, &everything).unwrap().stats;
        for engine in [&gpu, &Engine::cpu()] {
            assert_rows(
                &format!("{what}, every sum"),
                &engine.forward(&batch, &everything).unwrap().stats,
                &all,
                LogSums::ALL,
            );
            let got = engine.value_and_grad(&batch, &terms).unwrap();
            assert_rows(&what, &got.forward.stats, &all, sums);
            assert!(got.forward.values.iter().all(|v| v.is_finite()), "{what}: values {:?}", got.forward.values);
        }
    }
}

#[test]
fn a_sharded_backward_refuses_rows_without_a_sum_its_terms_read() {
    let gpu = gpu();
    let mut rng = Rng::new(4403);
    let (n, h, w) = (2, 17, 13);
    let (x, t) = make_case(&mut rng, n, h, w, Mask::Hard, 2.0);
    let batch = BinaryBatch::new(&x, &t, &[n, h, w]).unwrap();
    let dice = [Loss::Dice(Dice::default()).batch()];
    let bce = [Loss::Bce(Bce::default()).batch()];
    for engine in [&gpu, &Engine::cpu()] {
        // Rows gathered from a Dice request hold no Σbce: a BCE backward must not use them.
        let dice_rows = engine.forward(&batch, &dice).unwrap().stats;
        let err = engine.backward_with_stats(&batch, &bce, &dice_rows, 0).unwrap_err();
        assert!(matches!(err, Error::StatsMismatch(_)), "{err:?}");
        assert!(err.to_string().contains("Σbce"), "{err}");
        // Rows from `Engine::stats` with the default parameters serve any request.
        let full = engine.stats(&batch, &PixelParams::default()).unwrap();
        for terms in [&dice[..], &bce[..]] {
            let sharded = engine.backward_with_stats(&batch, terms, &full, 0).unwrap();
            let whole = engine.value_and_grad(&batch, terms).unwrap().grad;
            for (i, (g, w)) in sharded.iter().zip(&whole).enumerate() {
                assert!(close(*g as f64, *w as f64, 1e-5, 1e-9), "element {i}: {g} against {w}");
            }
        }
        // And the Dice rows serve the Dice backward they were made for.
        assert!(engine.backward_with_stats(&batch, &dice, &dice_rows, 0).is_ok());
    }
}
