//! `eval --out`: the CSV or JSON file, written whole or not at all.

use super::losses::loss_terms;
use super::surface::{pick, NAMES};
use super::totals::Summary;
use super::{format_of, Format, Res};
use segloss::io::AtomicFile;
use segloss::Metrics;
use std::io::Write;
use std::path::Path;

pub(super) fn metrics_json(s: &Summary) -> serde_json::Value {
    let list = |pick: fn(&Metrics) -> f64| s.per_class.iter().map(pick).collect::<Vec<f64>>();
    let mut v = serde_json::json!({
        "pixels": s.pixels,
        "pixel_accuracy": s.pixel_accuracy,
        "mean_iou": s.mean_iou,
        "iou": list(|m| m.iou),
        "dice": list(|m| m.dice),
        "precision": list(|m| m.precision),
        "recall": list(|m| m.recall),
    });
    if let (Some(surface), Some(map)) = (&s.surface, v.as_object_mut()) {
        for (i, name) in NAMES.iter().enumerate() {
            map.insert((*name).into(), surface.iter().map(|m| pick(m, i)).collect::<Vec<Option<f64>>>().into());
        }
    }
    v
}

/// The output file: CSV rows (a real CSV writer: names with commas, quotes or newlines are
/// quoted) or a JSON document (every string through a JSON serializer), written under a
/// temporary name and renamed into place when complete.
pub(super) enum Output {
    /// The writer and whether the surface columns are there.
    Csv(Box<csv::Writer<Sink>>, bool),
    Json(Sink, usize),
}

/// The temporary file behind the output, as a `Write`.
pub(super) struct Sink(AtomicFile);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.writer().write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.writer().flush()
    }
}

/// Column names: fixed for the whole file (loss columns are always present, empty for images
/// with hard predictions).
fn header(c: usize, multiclass: bool, surface: bool) -> Vec<String> {
    let mut h = vec!["image".to_string(), "pixels".into(), "pixel_accuracy".into(), "mean_iou".into()];
    for name in ["iou", "dice", "precision", "recall"] {
        h.extend((0..c).map(|k| format!("{name}_{k}")));
    }
    if surface {
        for name in NAMES {
            h.extend((0..c).map(|k| format!("{name}_{k}")));
        }
    }
    h.extend(loss_terms(multiclass).iter().map(|t| format!("loss_{}", t.loss.name())));
    h
}

fn row(name: &str, s: &Summary, losses: Option<&[f64]>, n_losses: usize, surface: bool) -> Vec<String> {
    let mut r = vec![
        name.to_string(),
        s.pixels.to_string(),
        format!("{:.12}", s.pixel_accuracy),
        format!("{:.12}", s.mean_iou),
    ];
    for pick in [|m: &Metrics| m.iou, |m: &Metrics| m.dice, |m: &Metrics| m.precision, |m: &Metrics| m.recall] {
        r.extend(s.per_class.iter().map(|m| format!("{:.12}", pick(m))));
    }
    if surface {
        // Empty where undefined, and in the pooled row (surface metrics have no pooled form).
        for i in 0..NAMES.len() {
            r.extend((0..s.per_class.len()).map(|k| {
                match s.surface.as_ref().and_then(|v| super::surface::pick(&v[k], i)) {
                    Some(x) => format!("{x:.12}"),
                    None => String::new(),
                }
            }));
        }
    }
    match losses {
        Some(l) => r.extend(l.iter().map(|v| format!("{v:.9}"))),
        None => r.extend((0..n_losses).map(|_| String::new())),
    }
    r
}

impl Output {
    pub(super) fn create(path: &Path, c: usize, multiclass: bool, surface: bool) -> Res<Output> {
        let file = Sink(AtomicFile::create(path)?);
        Ok(match format_of(path) {
            Some(Format::Csv) => {
                let mut w = csv::Writer::from_writer(file);
                w.write_record(header(c, multiclass, surface))
                    .map_err(|e| format!("{}: error writing: {e}", path.display()))?;
                Output::Csv(Box::new(w), surface)
            }
            _ => {
                let mut file = file;
                write!(file, "{{\"classes\":{c},\"images\":[").map_err(|e| file.0.write_error(e))?;
                Output::Json(file, 0)
            }
        })
    }

    pub(super) fn image(
        &mut self,
        path: &Path,
        name: &str,
        s: &Summary,
        losses: Option<&[f64]>,
        n_losses: usize,
    ) -> Res<()> {
        let err = |e: &dyn std::fmt::Display| format!("{}: error writing: {e}", path.display());
        match self {
            Output::Csv(w, surface) => w.write_record(row(name, s, losses, n_losses, *surface)).map_err(|e| err(&e))?,
            Output::Json(w, n) => {
                if *n > 0 {
                    w.write_all(b",").map_err(|e| err(&e))?;
                }
                *n += 1;
                let v = serde_json::json!({"image": name, "metrics": metrics_json(s), "losses": losses});
                serde_json::to_writer(&mut *w, &v).map_err(|e| err(&e))?;
            }
        }
        Ok(())
    }

    pub(super) fn finish(
        self,
        path: &Path,
        (pooled, mean): (&Summary, &Summary),
        dataset: &[u64],
        c: usize,
        skipped: &[(String, String)],
        n_losses: usize,
    ) -> Res<()> {
        let err = |e: &dyn std::fmt::Display| format!("{}: error writing: {e}", path.display());
        match self {
            Output::Csv(mut w, surface) => {
                w.write_record(row("DATASET(pooled)", pooled, None, n_losses, surface)).map_err(|e| err(&e))?;
                w.write_record(row("MEAN(over images)", mean, None, n_losses, surface)).map_err(|e| err(&e))?;
                w.flush().map_err(|e| err(&e))?;
                let sink = w.into_inner().map_err(|e| err(e.error()))?;
                sink.0.commit()?;
            }
            Output::Json(mut w, _) => {
                let skips: Vec<serde_json::Value> =
                    skipped.iter().map(|(f, r)| serde_json::json!({"file": f, "reason": r})).collect();
                write!(
                    w,
                    "],\"dataset_pooled\":{},\"mean_over_images\":{},\"confusion\":[",
                    metrics_json(pooled),
                    metrics_json(mean)
                )
                .map_err(|e| err(&e))?;
                // Row by row: C² counts are streamed, not built as one JSON value.
                for (i, r) in dataset.chunks(c).enumerate() {
                    if i > 0 {
                        w.write_all(b",").map_err(|e| err(&e))?;
                    }
                    serde_json::to_writer(&mut w, r).map_err(|e| err(&e))?;
                }
                write!(w, "],\"skipped\":{}}}", serde_json::Value::from(skips)).map_err(|e| err(&e))?;
                w.0.commit()?;
            }
        }
        Ok(())
    }
}
