//! `segloss eval`: score a folder of predicted masks against ground truth.
//!
//! Pairs files by stem; a pool of CPU threads decodes each pair (PNG or .npy), checks it,
//! counts its confusion matrix exactly and writes its overlay; the main thread merges the
//! counts, computes the losses of soft predictions on the GPU engine, streams per-image rows
//! and shows progress. Only a bounded number of decoded images is in flight at any time.
//! A hard label map needs no GPU: counting it on the CPU costs less than uploading it.

use segloss::io::mask::{read_mask, write_rgb_png, Mask};
use segloss::{BinaryBatch, ClassMap, CrossEntropy, Dice, Engine, Loss, Metrics, MulticlassBatch, Term};
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::sync_channel;
use std::time::Instant;

type Res<T> = std::result::Result<T, Box<dyn std::error::Error>>;

pub const HELP: &str = "\
segloss eval — score predicted masks against ground truth

USAGE:
    segloss eval --pred DIR --gt DIR [--num-classes C] [--ignore-index I] [--threshold T]
                 [--logits] [--out FILE.csv|FILE.json] [--overlay DIR] [--strict] [--threads N]

Files are paired by name (stem): pred/img7.png with gt/img7.png (or .npy). Ground truth:
PNG (8- or 16-bit grayscale, palette images as class indices) or integer .npy [H,W].
Predictions: the same, or float .npy scores: [H,W] probabilities (logits with --logits) for
binary, [C,H,W] logits/scores for multiclass (argmax); for scores the losses are reported too.
Binary mode (no --num-classes): ground truth > 0 is foreground; a prediction map of 0/1 is
taken as labels, otherwise value / max-of-depth ≥ T (default 0.5).
Reports per image and for the dataset: per-class IoU and Dice, mean IoU, pixel accuracy,
precision, recall and the confusion matrix. Dataset IoU = Σ intersections / Σ unions over the
dataset ('pooled'); also the mean of per-image values ('mean over images').
Unreadable, corrupt, unpaired or mismatched files are skipped with a reason each, listed at
the end; the exit code is 1 if any was skipped. --strict stops at the first.

EXAMPLE:
    segloss eval --pred runs/val/pred --gt data/val/masks --num-classes 19 --ignore-index 255 \\
                 --out scores.csv --overlay runs/val/overlay
";

pub struct Options {
    pub pred: PathBuf,
    pub gt: PathBuf,
    pub classes: Option<usize>,
    pub ignore: Option<i64>,
    pub threshold: f64,
    pub logits: bool,
    pub out: Option<PathBuf>,
    pub overlay: Option<PathBuf>,
    pub strict: bool,
    pub threads: usize,
}

pub fn parse(args: &[String]) -> Res<Options> {
    let mut o = Options {
        pred: PathBuf::new(),
        gt: PathBuf::new(),
        classes: None,
        ignore: None,
        threshold: 0.5,
        logits: false,
        out: None,
        overlay: None,
        strict: false,
        threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--pred" => o.pred = value()?.into(),
            "--gt" => o.gt = value()?.into(),
            "--num-classes" => o.classes = Some(value()?.parse()?),
            "--ignore-index" => o.ignore = Some(value()?.parse()?),
            "--threshold" => o.threshold = value()?.parse()?,
            "--out" => o.out = Some(value()?.into()),
            "--overlay" => o.overlay = Some(value()?.into()),
            "--threads" => o.threads = value()?.parse::<usize>()?.max(1),
            "--logits" => o.logits = true,
            "--strict" => o.strict = true,
            "--help" | "-h" => {
                print!("{HELP}");
                std::process::exit(0)
            }
            other => return Err(format!("eval: unknown option '{other}'\n\n{HELP}").into()),
        }
    }
    if o.pred.as_os_str().is_empty() || o.gt.as_os_str().is_empty() {
        return Err(format!("eval needs --pred DIR and --gt DIR\n\n{HELP}").into());
    }
    if o.classes.is_some_and(|c| c < 2) {
        return Err("--num-classes must be at least 2 (leave it out for binary masks)".into());
    }
    Ok(o)
}

/// stem → file, for the .png / .npy files of a folder.
fn list(dir: &Path) -> Res<BTreeMap<String, PathBuf>> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let path = entry?.path();
        let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        if matches!(ext.as_deref(), Some("png" | "npy")) {
            if let Some(stem) = path.file_stem().and_then(|s| s.to_str()) {
                out.insert(stem.to_string(), path);
            }
        }
    }
    Ok(out)
}

/// Soft predictions kept for the losses: (scores [C,H,W], labels (255 = ignored), C, H, W).
type Soft = (Vec<f32>, Vec<u8>, usize, usize, usize);

/// One scored image.
struct Scored {
    stem: String,
    confusion: Vec<u64>,
    /// Soft predictions, for the losses.
    soft: Option<Soft>,
}

/// The class of a ground-truth value (None = ignored).
fn gt_class(
    v: i64,
    classes: usize,
    binary: bool,
    ignore: Option<i64>,
    at: (usize, usize),
) -> Result<Option<usize>, String> {
    if ignore == Some(v) {
        return Ok(None);
    }
    if binary {
        return Ok(Some((v > 0) as usize));
    }
    if v < 0 || v as usize >= classes {
        return Err(format!(
            "ground-truth class {v} at row {}, column {} is not below {classes} (and not the ignore index)",
            at.0, at.1
        ));
    }
    Ok(Some(v as usize))
}

fn score(o: &Options, stem: &str, pred: &Path, gt: &Path) -> Result<Scored, String> {
    let binary = o.classes.is_none();
    let c = o.classes.unwrap_or(2);
    let gt_mask = read_mask(gt).map_err(|e| format!("{}: {e}", gt.display()))?;
    let pred_mask = read_mask(pred).map_err(|e| format!("{}: {e}", pred.display()))?;
    let Mask::Labels { h, w, values: gt_values } = gt_mask else {
        return Err(format!("{}: ground truth must be a label map (integers), not scores", gt.display()));
    };
    if pred_mask.size() != (h, w) {
        let (ph, pw) = pred_mask.size();
        return Err(format!("{}: prediction is {ph}x{pw} but the ground truth is {h}x{w}", pred.display()));
    }
    let mut labels = Vec::with_capacity(h * w);
    for (i, &v) in gt_values.iter().enumerate() {
        labels.push(gt_class(v, c, binary, o.ignore, (i / w, i % w)).map_err(|e| format!("{}: {e}", gt.display()))?);
    }
    let (pred_class, soft): (Vec<usize>, _) = match pred_mask {
        Mask::Labels { values, .. } => {
            let max = values.iter().copied().max().unwrap_or(0);
            let classes = if binary {
                let scale = if max <= 1 {
                    1.0
                } else if max <= 255 {
                    255.0
                } else {
                    65535.0
                };
                values
                    .iter()
                    .map(|&v| if max <= 1 { (v == 1) as usize } else { (v as f64 / scale >= o.threshold) as usize })
                    .collect()
            } else {
                if let Some((i, &v)) = values.iter().enumerate().find(|(_, &v)| v < 0 || v as usize >= c) {
                    return Err(format!(
                        "{}: predicted class {v} at row {}, column {} is not below {c}",
                        pred.display(),
                        i / w,
                        i % w
                    ));
                }
                values.iter().map(|&v| v as usize).collect()
            };
            (classes, None)
        }
        Mask::Scores { c: pc, values, .. } => {
            if binary && pc == 1 {
                let to_p = |x: f32| if o.logits { 1.0 / (1.0 + (-x as f64).exp()) } else { x as f64 };
                let classes = values.iter().map(|&x| (to_p(x) >= o.threshold) as usize).collect();
                let lab: Vec<u8> = labels.iter().map(|l| l.map_or(255, |k| k as u8)).collect();
                (classes, Some((values, lab, 1, h, w)))
            } else if !binary && pc == c {
                let hw = h * w;
                let classes = (0..hw)
                    .map(|i| {
                        (0..c).fold(0, |best, k| if values[k * hw + i] > values[best * hw + i] { k } else { best })
                    })
                    .collect();
                let lab: Vec<u8> = labels.iter().map(|l| l.map_or(255, |k| k.min(254) as u8)).collect();
                (classes, (c <= 254).then_some((values, lab, c, h, w)))
            } else {
                return Err(format!(
                    "{}: {pc} score channels for {} classes",
                    pred.display(),
                    if binary { 1 } else { c }
                ));
            }
        }
    };
    let mut confusion = vec![0u64; c * c];
    for (t, p) in labels.iter().zip(&pred_class) {
        if let Some(t) = t {
            confusion[t * c + p] += 1;
        }
    }
    if let Some(dir) = &o.overlay {
        let rgb: Vec<u8> = labels
            .iter()
            .zip(&pred_class)
            .flat_map(|(t, &p)| match t {
                None => [0, 0, 0],
                Some(t) if *t == p && p != 0 => [40, 200, 60], // true positive: green
                Some(t) if p != 0 && p != *t => [220, 40, 40], // false positive (or wrong class): red
                Some(t) if *t != 0 && p == 0 => [40, 90, 230], // false negative: blue
                Some(_) => [70, 70, 70],                       // true background: grey
            })
            .collect();
        write_rgb_png(&dir.join(format!("{stem}.png")), w, h, &rgb).map_err(|e| format!("overlay {stem}: {e}"))?;
    }
    Ok(Scored { stem: stem.to_string(), confusion, soft })
}

/// Per-class metrics, mean IoU (over classes occurring) and pixel accuracy of a confusion matrix.
struct Summary {
    per_class: Vec<Metrics>,
    mean_iou: f64,
    pixel_accuracy: f64,
    pixels: u64,
}

fn summarize(confusion: &[u64], c: usize) -> Summary {
    let mut per_class = Vec::with_capacity(c);
    let mut ious = Vec::new();
    for k in 0..c {
        let tp = confusion[k * c + k];
        let fp: u64 = (0..c).filter(|&r| r != k).map(|r| confusion[r * c + k]).sum();
        let fn_: u64 = (0..c).filter(|&q| q != k).map(|q| confusion[k * c + q]).sum();
        let m = Metrics::from_counts(tp, fp, fn_);
        if tp + fp + fn_ > 0 {
            ious.push(m.iou);
        }
        per_class.push(m);
    }
    let pixels: u64 = confusion.iter().sum();
    let correct: u64 = (0..c).map(|k| confusion[k * c + k]).sum();
    Summary {
        per_class,
        mean_iou: if ious.is_empty() { 1.0 } else { ious.iter().sum::<f64>() / ious.len() as f64 },
        pixel_accuracy: if pixels == 0 { 1.0 } else { correct as f64 / pixels as f64 },
        pixels,
    }
}

fn loss_terms(multiclass: bool) -> Vec<Term> {
    if multiclass {
        vec![Loss::CrossEntropy(CrossEntropy::default()).batch(), Loss::Dice(Dice::default()).batch()]
    } else {
        vec![Loss::Bce(segloss::Bce::default()).batch(), Loss::Dice(Dice::default()).batch()]
    }
}

fn losses(engine: &Engine, o: &Options, s: &Soft) -> Result<Vec<f64>, String> {
    let (values, labels, c, h, w) = s;
    if *c == 1 {
        let t: Vec<f32> = labels.iter().map(|&l| if l == 255 { -1.0 } else { l as f32 }).collect();
        let mut batch = BinaryBatch::new(values, &t, &[1, *h, *w])
            .map_err(|e| e.to_string())?
            .ignore_value(-1.0)
            .map_err(|e| e.to_string())?;
        if !o.logits {
            batch = batch.probabilities();
        }
        engine.forward(&batch, &loss_terms(false)).map(|f| f.values).map_err(|e| e.to_string())
    } else {
        let batch = MulticlassBatch::new(values, ClassMap::U8(labels), &[1, *c, *h, *w])
            .map_err(|e| e.to_string())?
            .ignore_index(255);
        engine.forward(&batch, &loss_terms(true)).map(|f| f.values).map_err(|e| e.to_string())
    }
}

fn json_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

fn metrics_json(s: &Summary) -> String {
    let list = |pick: fn(&Metrics) -> f64| {
        s.per_class.iter().map(|m| format!("{:.12}", pick(m))).collect::<Vec<_>>().join(",")
    };
    format!(
        "{{\"pixels\":{},\"pixel_accuracy\":{:.12},\"mean_iou\":{:.12},\"iou\":[{}],\"dice\":[{}],\"precision\":[{}],\"recall\":[{}]}}",
        s.pixels,
        s.pixel_accuracy,
        s.mean_iou,
        list(|m| m.iou),
        list(|m| m.dice),
        list(|m| m.precision),
        list(|m| m.recall)
    )
}

/// Peak resident memory of this process in KiB (Linux), for the memory report.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

pub fn run(o: &Options) -> Res<i32> {
    let c = o.classes.unwrap_or(2);
    let preds = list(&o.pred)?;
    let mut gts = list(&o.gt)?;
    if let Some(dir) = &o.overlay {
        std::fs::create_dir_all(dir)?;
    }
    let mut skipped: Vec<(String, String)> = Vec::new();
    // The only per-image state kept: the paired file names (decoded images stay bounded).
    let mut pairs = Vec::with_capacity(preds.len());
    for (stem, p) in preds {
        match gts.remove(&stem) {
            Some(g) => pairs.push((stem, p, g)),
            None => skipped.push((p.display().to_string(), "no ground truth with this name".into())),
        }
    }
    for g in gts.into_values() {
        skipped.push((g.display().to_string(), "no prediction with this name".into()));
    }
    pairs.shrink_to_fit();
    if o.strict && !skipped.is_empty() {
        eprintln!("segloss eval: {}: {}", skipped[0].0, skipped[0].1);
        return Ok(1);
    }
    let engine = std::cell::OnceCell::new();
    let total = pairs.len();
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let (tx, rx) = sync_channel::<Result<Scored, (String, String)>>(o.threads * 2);
    let mut dataset = vec![0u64; c * c];
    // Running sums for the means over images (nothing per image is kept).
    let mut scored_images = 0usize;
    let mut sum_iou = vec![0.0; c];
    let mut sum_dice = vec![0.0; c];
    let mut sum_precision = vec![0.0; c];
    let mut sum_recall = vec![0.0; c];
    let (mut sum_miou, mut sum_acc) = (0.0, 0.0);
    let mut json = match &o.out {
        Some(p) if p.extension().is_some_and(|e| e == "json") => {
            let mut w = std::io::BufWriter::new(std::fs::File::create(p)?);
            write!(w, "{{\"classes\":{c},\"images\":[")?;
            Some(w)
        }
        _ => None,
    };
    let mut csv = match &o.out {
        Some(p) if p.extension().is_some_and(|e| e == "csv") => {
            Some(std::io::BufWriter::new(std::fs::File::create(p)?))
        }
        _ => None,
    };
    let header = |soft: bool| {
        let mut h = vec!["image".to_string(), "pixels".into(), "pixel_accuracy".into(), "mean_iou".into()];
        for name in ["iou", "dice", "precision", "recall"] {
            h.extend((0..c).map(|k| format!("{name}_{k}")));
        }
        if soft {
            h.extend(loss_terms(o.classes.is_some()).iter().map(|t| format!("loss_{}", t.loss.name())));
        }
        h.join(",")
    };
    let row = |name: &str, s: &Summary, losses: &Option<Vec<f64>>| {
        let mut r = vec![
            name.to_string(),
            s.pixels.to_string(),
            format!("{:.12}", s.pixel_accuracy),
            format!("{:.12}", s.mean_iou),
        ];
        for pick in [|m: &Metrics| m.iou, |m: &Metrics| m.dice, |m: &Metrics| m.precision, |m: &Metrics| m.recall] {
            r.extend(s.per_class.iter().map(|m| format!("{:.12}", pick(m))));
        }
        if let Some(l) = losses {
            r.extend(l.iter().map(|v| format!("{v:.9}")));
        }
        r.join(",")
    };
    let start = Instant::now();
    let bar = std::io::stderr().is_terminal().then(|| {
        let b = indicatif::ProgressBar::new(total as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} images  {per_sec}  ETA {eta}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });
    let mut done = 0usize;
    let mut wrote_header = false;
    std::thread::scope(|scope| -> Res<()> {
        for _ in 0..o.threads.min(total.max(1)) {
            let tx = tx.clone();
            let (pairs, next, stop) = (&pairs, &next, &stop);
            scope.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= pairs.len() || stop.load(Ordering::Relaxed) {
                    break;
                }
                let (stem, p, g) = &pairs[i];
                let result = score(o, stem, p, g).map_err(|e| (stem.clone(), e));
                if tx.send(result).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        for result in rx {
            done += 1;
            match result {
                Ok(scored) => {
                    for (d, v) in dataset.iter_mut().zip(&scored.confusion) {
                        *d += v;
                    }
                    let losses = match &scored.soft {
                        Some(s) => {
                            let engine = match engine.get() {
                                Some(e) => e,
                                None => {
                                    let e = Engine::new().or_else(|_| Ok::<_, segloss::Error>(Engine::cpu()))?;
                                    engine.get_or_init(|| e)
                                }
                            };
                            Some(losses(engine, o, s).map_err(|e| format!("{}: {e}", scored.stem))?)
                        }
                        None => None,
                    };
                    let summary = summarize(&scored.confusion, c);
                    if let Some(w) = csv.as_mut() {
                        if !wrote_header {
                            writeln!(w, "{}", header(losses.is_some()))?;
                            wrote_header = true;
                        }
                        writeln!(w, "{}", row(&scored.stem, &summary, &losses))?;
                    }
                    if let Some(w) = json.as_mut() {
                        let losses = losses.as_ref().map_or("null".to_string(), |v| {
                            format!("[{}]", v.iter().map(|x| format!("{x:.9}")).collect::<Vec<_>>().join(","))
                        });
                        let sep = if scored_images > 0 { "," } else { "" };
                        write!(
                            w,
                            "{sep}{{\"image\":\"{}\",\"metrics\":{},\"losses\":{losses}}}",
                            json_escape(&scored.stem),
                            metrics_json(&summary)
                        )?;
                    }
                    scored_images += 1;
                    for (k, m) in summary.per_class.iter().enumerate() {
                        sum_iou[k] += m.iou;
                        sum_dice[k] += m.dice;
                        sum_precision[k] += m.precision;
                        sum_recall[k] += m.recall;
                    }
                    sum_miou += summary.mean_iou;
                    sum_acc += summary.pixel_accuracy;
                }
                Err((file, reason)) => {
                    skipped.push((file, reason));
                    if o.strict {
                        stop.store(true, Ordering::Relaxed);
                        break;
                    }
                }
            }
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
    })?;
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let elapsed = start.elapsed().as_secs_f64();
    let pooled = summarize(&dataset, c);
    // Mean over images: each image's value, averaged over the scored images.
    let n_img = scored_images.max(1) as f64;
    let mean_summary = Summary {
        per_class: (0..c)
            .map(|k| Metrics {
                iou: sum_iou[k] / n_img,
                dice: sum_dice[k] / n_img,
                precision: sum_precision[k] / n_img,
                recall: sum_recall[k] / n_img,
            })
            .collect(),
        mean_iou: sum_miou / n_img,
        pixel_accuracy: sum_acc / n_img,
        pixels: pooled.pixels,
    };
    if let Some(w) = csv.as_mut() {
        if !wrote_header {
            writeln!(w, "{}", header(false))?;
        }
        writeln!(w, "{}", row("DATASET(pooled)", &pooled, &None))?;
        writeln!(w, "{}", row("MEAN(over images)", &mean_summary, &None))?;
        w.flush()?;
    }
    if let Some(w) = json.as_mut() {
        let conf: Vec<String> = dataset
            .chunks(c)
            .map(|r| format!("[{}]", r.iter().map(u64::to_string).collect::<Vec<_>>().join(",")))
            .collect();
        let skips: Vec<String> = skipped
            .iter()
            .map(|(f, r)| format!("{{\"file\":\"{}\",\"reason\":\"{}\"}}", json_escape(f), json_escape(r)))
            .collect();
        write!(
            w,
            "],\"dataset_pooled\":{},\"mean_over_images\":{},\"confusion\":[{}],\"skipped\":[{}]}}",
            metrics_json(&pooled),
            metrics_json(&mean_summary),
            conf.join(","),
            skips.join(",")
        )?;
        w.flush()?;
    }
    println!(
        "segloss eval: {scored_images} images scored, {} skipped, {:.0} images/s",
        skipped.len(),
        scored_images as f64 / elapsed.max(1e-9)
    );
    println!("{:<10} {:>14} {:>14}", "", "pooled", "mean/images");
    println!("{:<10} {:>14.6} {:>14.6}", "mean IoU", pooled.mean_iou, mean_summary.mean_iou);
    println!("{:<10} {:>14.6} {:>14.6}", "pixel acc", pooled.pixel_accuracy, mean_summary.pixel_accuracy);
    for k in 0..c {
        println!(
            "{:<10} {:>14.6} {:>14.6}",
            format!("IoU {k}"),
            pooled.per_class[k].iou,
            mean_summary.per_class[k].iou
        );
    }
    if std::env::var("SEGLOSS_REPORT_MEMORY").is_ok() {
        println!("peak resident memory: {} KiB", peak_rss_kib().unwrap_or(0));
    }
    if !skipped.is_empty() {
        println!("skipped:");
        for (file, reason) in &skipped {
            println!("  {file}: {reason}");
        }
        return Ok(1);
    }
    Ok(0)
}
