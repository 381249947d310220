//! `Stats` between processes: two shards of a pixel set, each summed on its own by the f64
//! reference, sent as `Stats::to_array` and read back with `Stats::from_array`, merge to the
//! statistics of the whole set computed in one pass (counts exactly, sums to rounding).
mod common;
use common::Rng;
use segloss::{BinaryBatch, Engine, PixelParams, Stats};

/// The statistics of one image of `rows` × `w` pixels (the reference's single segment).
fn stats_of(engine: &Engine, logits: &[f32], targets: &[f32], rows: usize, w: usize) -> Stats {
    let batch = BinaryBatch::new(logits, targets, &[1, rows, w]).unwrap();
    let all = engine.stats(&batch, &PixelParams::default()).unwrap();
    assert_eq!(all.len(), 1);
    all[0]
}

#[test]
fn two_shards_sent_as_arrays_merge_to_the_stats_of_the_whole() {
    let engine = Engine::cpu();
    let mut rng = Rng::new(17);
    let (h, w) = (37, 23);
    let logits: Vec<f32> = (0..h * w).map(|_| (3.0 * rng.normal()) as f32).collect();
    let targets: Vec<f32> = (0..h * w).map(|_| if rng.uniform() < 0.4 { 1.0 } else { 0.0 }).collect();
    let whole = stats_of(&engine, &logits, &targets, h, w);
    for split_row in [1, 11, 36] {
        let cut = split_row * w;
        let top = stats_of(&engine, &logits[..cut], &targets[..cut], split_row, w);
        let bottom = stats_of(&engine, &logits[cut..], &targets[cut..], h - split_row, w);
        // What another process would send and what this one reads back.
        let (sent_top, sent_bottom) = (top.to_array(), bottom.to_array());
        let mut merged = Stats::from_array(&sent_top).unwrap();
        merged.merge(&Stats::from_array(&sent_bottom).unwrap());
        assert_eq!(merged.count, (h * w) as u64);
        assert_eq!(
            (merged.count, merged.hard_tp, merged.hard_fp, merged.hard_fn),
            (whole.count, whole.hard_tp, whole.hard_fp, whole.hard_fn),
            "split at row {split_row}"
        );
        assert_eq!(merged.metrics(), whole.metrics());
        let (m, t) = (merged.to_array(), whole.to_array());
        for slot in 0..9 {
            let tolerance = 1e-12 * t[slot].abs().max(1.0);
            assert!(
                (m[slot] - t[slot]).abs() <= tolerance,
                "split at row {split_row}: {} merged {} vs whole {}",
                Stats::ARRAY_NAMES[slot],
                m[slot],
                t[slot]
            );
        }
        // The target sums are sums of 0/1 values: exact in any order.
        assert_eq!(merged.st, whole.st);
        assert_eq!(merged.stt, whole.stt);
    }
}

/// `Metrics::mean`: the mean of each metric over the images, worked out by hand; `None` for no
/// image.
#[test]
fn metrics_mean_is_the_mean_over_images() {
    use segloss::Metrics;
    // (tp, fp, fn) = (3, 1, 2): Dice 6/9, IoU 3/6, precision 3/4, recall 3/5;
    // (1, 0, 0): all 1; (0, 2, 0): all 0 (nothing true to find but false positives).
    let m = [Metrics::from_counts(3, 1, 2), Metrics::from_counts(1, 0, 0), Metrics::from_counts(0, 2, 0)];
    assert_eq!((m[0].dice, m[0].iou, m[0].precision, m[0].recall), (6.0 / 9.0, 0.5, 0.75, 0.6));
    let mean = Metrics::mean(&m).unwrap();
    let want = [(6.0 / 9.0 + 1.0) / 3.0, 0.5, (0.75 + 1.0) / 3.0, (0.6 + 1.0) / 3.0];
    let got = [mean.dice, mean.iou, mean.precision, mean.recall];
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 1e-15, "{got:?} vs {want:?}");
    }
    assert!(Metrics::mean(&[]).is_none());
}
