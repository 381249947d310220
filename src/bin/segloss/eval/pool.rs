//! The worker pool: CPU threads score pairs; the main thread computes the losses of soft
//! predictions as results arrive, then hands every result on **in pair order**, so that a
//! report is the same whatever the thread count and timing (and the same as the merge of
//! shards). Results that arrive early wait, small (counts, no pixels: the image's budget is
//! given back on arrival); a worker starts pair i only once i is within a window of the next
//! pair due, so that waiting list stays short.

use super::budget::Budget;
use super::losses::losses;
use super::score::score;
use super::{Options, Pair, Res, Row, Skip};
use segloss::Engine;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::sync_channel;
use std::sync::{Condvar, Mutex};
use std::time::Instant;

/// Workers start pair i only while i < (next pair due) + `size`.
struct Window {
    due: Mutex<usize>,
    moved: Condvar,
    size: usize,
}

impl Window {
    fn wait_for(&self, i: usize) {
        let mut due = self.due.lock().unwrap_or_else(|e| e.into_inner());
        while i >= due.saturating_add(self.size) {
            due = self.moved.wait(due).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn advance(&self, due: usize) {
        *self.due.lock().unwrap_or_else(|e| e.into_inner()) = due;
        self.moved.notify_all();
    }
}

/// Scores `pairs` (numbered from `first` in the whole listing) and calls `take(index, result)`
/// in pair order; `take` returns false to stop (`--strict`). Returns the loss engine's name
/// if soft predictions needed it.
pub(super) fn score_in_order(
    o: &Options,
    pairs: &[Pair],
    first: usize,
    mut take: impl FnMut(usize, Result<Row, Skip>) -> Res<bool>,
) -> Res<Option<String>> {
    let total = pairs.len();
    if total == 0 {
        return Ok(None);
    }
    let engine = std::cell::OnceCell::new();
    // `--surface`: one engine shared by the workers (an engine is Send + Sync).
    let surface_engine = match (&o.surface, o.surface_engine.as_str()) {
        (None, _) => None,
        (Some(_), "cpu") => Some(Engine::cpu()),
        (Some(_), "gpu") => Some(Engine::new().map_err(|e| format!("--surface-engine gpu: no GPU engine: {e}"))?),
        (Some(_), _) => Some(Engine::new().unwrap_or_else(|_| Engine::cpu())),
    };
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let budget =
        std::sync::Arc::new(Budget { limit: o.max_pixels, used: Default::default(), freed: Default::default() });
    let threads = o.threads.min(total);
    let window = Window { due: Mutex::new(0), moved: Condvar::new(), size: 4 * threads };
    let (tx, rx) = sync_channel(threads);
    let start = Instant::now();
    let bar = std::io::stderr().is_terminal().then(|| {
        let b = indicatif::ProgressBar::new(total as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} images  {per_sec}  ETA {eta}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });
    std::thread::scope(|scope| -> Res<()> {
        for _ in 0..threads {
            let tx = tx.clone();
            let (next, stop, budget, window) = (&next, &stop, &budget, &window);
            let surface_engine = surface_engine.as_ref();
            scope.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total || stop.load(Ordering::Relaxed) {
                    break;
                }
                window.wait_for(i);
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let (stem, p, g) = &pairs[i];
                let result = score(o, budget, stem, p, g, surface_engine).map_err(|e| (stem.clone(), e));
                if tx.send((i, result)).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        let outcome = (|| -> Res<()> {
            let mut early: BTreeMap<usize, Result<Row, Skip>> = BTreeMap::new();
            let (mut due, mut done) = (0usize, 0usize);
            for (i, result) in &rx {
                done += 1;
                // An image's losses are computed before its counts are merged: one that fails
                // is skipped like any other bad file.
                let row = result.and_then(|scored| {
                    let losses = match &scored.soft {
                        Some(s) => {
                            let engine = engine.get_or_init(|| Engine::new().unwrap_or_else(|_| Engine::cpu()));
                            Some(
                                losses(engine, o, s)
                                    .map_err(|e| (scored.stem.clone(), format!("{}: {e}", scored.pred.display())))?,
                            )
                        }
                        None => None,
                    };
                    Ok(Row {
                        index: first + i,
                        stem: scored.stem,
                        confusion: scored.confusion,
                        losses,
                        surface: scored.surface,
                    })
                });
                early.insert(i, row);
                while let Some(row) = early.remove(&due) {
                    due += 1;
                    if !take(first + due - 1, row)? {
                        return Ok(());
                    }
                }
                window.advance(due);
                match &bar {
                    Some(b) => b.set_position(done as u64),
                    None if done % (total / 10).max(1) == 0 || done == total => {
                        let rate = done as f64 / start.elapsed().as_secs_f64().max(1e-9);
                        eprintln!("eval: {done}/{total} images, {rate:.0} images/s");
                    }
                    None => {}
                }
            }
            Ok(())
        })();
        // Stop the workers, open the window and let blocked senders finish before the scope
        // joins them.
        stop.store(true, Ordering::Relaxed);
        window.advance(usize::MAX);
        for _ in rx.try_iter() {}
        drop(rx);
        outcome
    })?;
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    Ok(engine.get().map(|e: &Engine| format!("{} ({})", e.info().name, e.info().backend)))
}
