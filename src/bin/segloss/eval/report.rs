//! The report of `segloss eval` and of `segloss merge` — one code path for both: per-image
//! rows in pair order, then the dataset rows computed from [`Totals`], the file committed,
//! and the summary on standard output.

use super::output::Output;
use super::totals::{Summary, Totals};
use super::{Res, Row, Skip};
use std::path::{Path, PathBuf};

pub(crate) struct Report {
    /// `--out` and its writer, if asked for.
    output: Option<(Output, PathBuf)>,
    classes: usize,
    n_losses: usize,
}

impl Report {
    /// A report of `classes` classes (binary: 2), written to `out` if given.
    pub(crate) fn create(out: Option<&Path>, classes: usize, multiclass: bool, surface: bool) -> Res<Report> {
        let output = match out {
            Some(path) => Some((Output::create(path, classes, multiclass, surface)?, path.to_path_buf())),
            None => None,
        };
        Ok(Report { output, classes, n_losses: super::losses::loss_terms(multiclass).len() })
    }

    /// The next image's row (images come in pair order).
    pub(crate) fn image(&mut self, row: &Row, summary: &Summary) -> Res<()> {
        if let Some((out, path)) = &mut self.output {
            out.image(path, &row.stem, summary, row.losses.as_deref(), self.n_losses)?;
        }
        Ok(())
    }

    /// The dataset rows from `totals` and the skipped files; the summary on standard output,
    /// led by `headline(images scored, files skipped)`. Returns the exit code: 1 if anything
    /// was skipped. No image scored is an error (and no file is written).
    pub(crate) fn finish(
        self,
        totals: &Totals,
        skipped: &[Skip],
        headline: impl FnOnce(u64, usize) -> String,
    ) -> Res<i32> {
        if totals.images == 0 {
            report_skipped(skipped);
            return Err("no image could be scored (every pair was skipped; reasons above)".into());
        }
        let (pooled, mean) = totals.summaries();
        if let Some((out, path)) = self.output {
            out.finish(&path, (&pooled, &mean), &totals.confusion, self.classes, skipped, self.n_losses)?;
        }
        println!("{}", headline(totals.images, skipped.len()));
        println!("{:<10} {:>14} {:>14}", "", "pooled", "mean/images");
        println!("{:<10} {:>14.6} {:>14.6}", "mean IoU", pooled.mean_iou, mean.mean_iou);
        println!("{:<10} {:>14.6} {:>14.6}", "pixel acc", pooled.pixel_accuracy, mean.pixel_accuracy);
        for k in 0..self.classes {
            println!("{:<10} {:>14.6} {:>14.6}", format!("IoU {k}"), pooled.per_class[k].iou, mean.per_class[k].iou);
        }
        if let Some(surface) = &mean.surface {
            let show = |v: Option<f64>| v.map_or("null".to_string(), |x| format!("{x:.6}"));
            for (k, m) in surface.iter().enumerate() {
                println!(
                    "class {k}: mean/images hd {}  hd95 {}  assd {}  nsd {}",
                    show(m.hd),
                    show(m.hd95),
                    show(m.assd),
                    show(m.nsd)
                );
            }
        }
        if std::env::var("SEGLOSS_REPORT_MEMORY").is_ok() {
            println!("peak resident memory: {} KiB", super::peak_rss_kib().unwrap_or(0));
        }
        report_skipped(skipped);
        Ok(if skipped.is_empty() { 0 } else { 1 })
    }
}

/// The skipped files and why, on standard output (names with control characters escaped).
pub(crate) fn report_skipped(skipped: &[Skip]) {
    if skipped.is_empty() {
        return;
    }
    println!("skipped:");
    for (file, reason) in skipped {
        println!("  {}: {}", printable(file), printable(reason));
    }
}

/// `s` with control characters escaped (a file name cannot break the listing's lines).
fn printable(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect()
}
