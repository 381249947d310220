//! A plan's backward kernel is compiled with the terms its losses declare
//! (`SumLoss::backward_terms`); these tests hold the declarations to the coefficients the
//! losses actually give.

use crate::gpu::contract::GpuCoef;
use crate::gpu::specialize::terms_of;
use crate::input::{Layout, Mode};
use crate::loss::Loss;
use crate::options::{AbsentClass, ClassOptions, ClassSelection};
use crate::stats::Stats;

/// Statistics rows of `layout` drawn at random: every sum consistent with some pixels (TP at
/// most Σp and Σt, Σp² at most Σp, Σ|p − t| = Σp + Σt − 2·TP for hard targets), some rows
/// with no target pixel and some with no pixel at all.
fn random_rows(layout: &Layout, seed: u64) -> Vec<Stats> {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let mut next = move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..layout.rows())
        .map(|_| {
            let n = if next() < 0.05 { 0 } else { 1 + (next() * 60.0) as u64 };
            let nf = n as f64;
            let st = if next() < 0.3 { 0.0 } else { (next() * nf).floor() };
            let sp = next() * nf;
            let tp = next() * sp.min(st);
            let hard_tp = (tp.floor() as u64).min(st as u64);
            Stats {
                sp,
                st,
                tp,
                spp: sp * next(),
                stt: st,
                sad: sp + st - 2.0 * tp,
                bce: nf * next(),
                focal: nf * next(),
                wce: nf * next(),
                count: n,
                hard_tp,
                hard_fp: ((sp - tp).floor() as u64).min(n - st as u64),
                hard_fn: st as u64 - hard_tp,
            }
        })
        .collect()
}

/// `SumLoss::backward_terms` (what a plan's backward kernel is compiled with) covers every
/// coefficient the loss gives, for every example loss in every mode it applies to, both
/// aggregations, several class options, on random statistics.
#[test]
fn declared_backward_terms_cover_every_coefficient() {
    let class_options = [
        ClassOptions::default(),
        ClassOptions { selection: ClassSelection::NoBackground, ..Default::default() },
        ClassOptions { weights: Some(vec![0.5, 2.0, 1.0]), absent: AbsentClass::Skip, ..Default::default() },
        ClassOptions { pool: true, ..Default::default() },
    ];
    let mut checked = 0;
    for loss in Loss::examples().into_iter().filter(|l| !l.is_standalone()) {
        let declared = loss.backward_terms();
        for mode in [Mode::Binary, Mode::Multilabel, Mode::Multiclass] {
            if !loss.def().applies(mode) {
                continue;
            }
            let classes = if mode == Mode::Binary { 1 } else { 3 };
            let layout = Layout { images: 4, classes, mode };
            for opts in &class_options {
                for term in [loss.batch(), loss.per_image()] {
                    let term = if mode == Mode::Binary { term } else { term.with_classes(opts.clone()) };
                    for seed in 0..25 {
                        let rows = random_rows(&layout, seed);
                        let Ok((_, coefs)) = crate::aggregate::evaluate(std::slice::from_ref(&term), &rows, &layout)
                        else {
                            continue;
                        };
                        let gpu: Vec<GpuCoef> = coefs.iter().map(GpuCoef::from).collect();
                        let used = terms_of(&gpu);
                        assert_eq!(
                            used & !declared,
                            0,
                            "{loss:?} {mode:?} {opts:?}: terms {used:#b}, declared {declared:#b}"
                        );
                        checked += 1;
                    }
                }
            }
        }
    }
    assert!(checked > 1000, "only {checked} evaluations");
}
