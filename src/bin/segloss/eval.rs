//! `segloss eval`: score a folder of predicted masks against ground truth.
//!
//! Pairs files by stem; a pool of CPU threads decodes each pair (PNG or .npy), checks it,
//! counts its confusion matrix exactly and writes its overlay; the main thread merges the
//! counts, computes the losses of soft predictions on the GPU engine, streams per-image rows
//! and shows progress. Only a bounded number of decoded images is in flight at any time.
//! A hard label map needs no GPU: counting it on the CPU costs less than uploading it.

use segloss::io::mask::{probe, read_mask_limited, write_rgb_png, Mask};
use segloss::{BinaryBatch, ClassMap, CrossEntropy, Dice, Engine, Loss, Metrics, MulticlassBatch, Term};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::sync_channel;
use std::time::Instant;

type Res<T> = std::result::Result<T, Box<dyn std::error::Error>>;

mod budget;
mod output;
use budget::{Budget, Ticket};
use output::Output;

pub const HELP: &str = "\
segloss eval — score predicted masks against ground truth

USAGE:
    segloss eval --pred DIR --gt DIR [--num-classes C] [--ignore-index I] [--threshold T]
                 [--logits] [--out FILE.csv|FILE.json] [--overlay DIR] [--strict] [--threads N]
                 [--max-pixels N]

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
Limits: --num-classes 2..=2048, --threads 1..=256, --threshold in [0, 1]; an image file may
declare at most --max-pixels values (H*W, C*H*W for scores; default 8388608), checked on its
header before decoding. Only regular files are read (FIFOs and devices are skipped).

EXAMPLE:
    segloss eval --pred runs/val/pred --gt data/val/masks --num-classes 19 --ignore-index 255 \\
                 --out scores.csv --overlay runs/val/overlay
";

/// The most classes `--num-classes` accepts (the dataset's confusion matrix holds C² counts).
pub const MAX_CLASSES: usize = 2048;
/// The most worker threads `--threads` accepts.
pub const MAX_THREADS: usize = 256;
/// The default pixel budget: values one image file may declare (H·W, times C for scores).
pub const DEFAULT_MAX_PIXELS: u64 = 1 << 23;

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
    pub max_pixels: u64,
}

/// The output format, from `--out`'s extension.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    Json,
}

fn format_of(path: &Path) -> Option<Format> {
    match path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase()).as_deref() {
        Some("csv") => Some(Format::Csv),
        Some("json") => Some(Format::Json),
        _ => None,
    }
}

/// A flag's value parsed as `T` and checked by `ok`; the error names the flag and the range.
fn number<T: std::str::FromStr>(flag: &str, text: &str, ok: impl Fn(&T) -> bool, range: &str) -> Res<T> {
    match text.parse::<T>() {
        Ok(v) if ok(&v) => Ok(v),
        _ => Err(format!("{flag}: '{text}' is not {range}").into()),
    }
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
        threads: std::thread::available_parallelism().map_or(2, |n| n.get()).min(MAX_THREADS),
        max_pixels: DEFAULT_MAX_PIXELS,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--pred" => o.pred = value()?.into(),
            "--gt" => o.gt = value()?.into(),
            "--num-classes" => {
                let range = format!("a whole number in 2..={MAX_CLASSES} (leave it out for binary masks)");
                o.classes = Some(number(a, value()?, |c| (2..=MAX_CLASSES).contains(c), &range)?)
            }
            "--ignore-index" => o.ignore = Some(number(a, value()?, |_: &i64| true, "a whole number")?),
            "--threshold" => {
                o.threshold = number(a, value()?, |t: &f64| (0.0..=1.0).contains(t), "a number in [0, 1]")?
            }
            "--out" => o.out = Some(value()?.into()),
            "--overlay" => o.overlay = Some(value()?.into()),
            "--threads" => {
                let range = format!("a whole number in 1..={MAX_THREADS}");
                o.threads = number(a, value()?, |t| (1..=MAX_THREADS).contains(t), &range)?
            }
            "--max-pixels" => {
                o.max_pixels = number(a, value()?, |m: &u64| *m >= 1 && *m <= 1 << 40, "a whole number in 1..=2^40")?
            }
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
    if let Some(out) = &o.out {
        if format_of(out).is_none() {
            return Err(format!("--out {}: the file name must end in .csv or .json", out.display()).into());
        }
        if out.is_dir() {
            return Err(format!("--out {}: is a folder, not a file name", out.display()).into());
        }
    }
    if let Some(dir) = &o.overlay {
        if dir.exists() && !dir.is_dir() {
            return Err(format!("--overlay {}: exists and is not a folder", dir.display()).into());
        }
        for (flag, input) in [("--pred", &o.pred), ("--gt", &o.gt)] {
            if segloss::io::same_file(dir, input) {
                return Err(format!(
                    "--overlay {}: is the {flag} folder; overlays would overwrite its masks",
                    dir.display()
                )
                .into());
            }
        }
    }
    Ok(o)
}

/// The pairable files of a folder: stem → file. Files that cannot be paired (not a regular
/// file, a name that is not UTF-8 or has no stem, two files with one stem) are returned as
/// skipped with the reason; other extensions are not masks and are passed over.
fn list(dir: &Path, skipped: &mut Vec<(String, String)>) -> Res<BTreeMap<String, PathBuf>> {
    let mut by_stem: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: cannot list the folder: {e}", dir.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("{}: cannot list the folder: {e}", dir.display()))?;
        let path = entry.path();
        let name = entry.file_name();
        let lossy = name.to_string_lossy().to_ascii_lowercase();
        if !(lossy.ends_with(".png") || lossy.ends_with(".npy")) {
            continue;
        }
        let shown = path.display().to_string();
        let Some(name) = name.to_str() else {
            skipped.push((shown, "the file name is not valid UTF-8".into()));
            continue;
        };
        let stem = &name[..name.len() - 4];
        if stem.is_empty() {
            skipped.push((shown, "no name before the extension".into()));
            continue;
        }
        match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => by_stem.entry(stem.to_string()).or_default().push(path),
            Ok(m) => skipped.push((shown, format!("{}, not a regular file: not read", segloss::io::file_kind(&m)))),
            Err(e) => skipped.push((shown, format!("cannot read: {e}"))),
        }
    }
    let mut out = BTreeMap::new();
    for (stem, mut paths) in by_stem {
        if paths.len() == 1 {
            out.insert(stem, paths.remove(0));
        } else {
            paths.sort();
            let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
            for p in &names {
                skipped.push((
                    p.clone(),
                    format!("ambiguous: several files with the stem '{stem}' ({})", names.join(", ")),
                ));
            }
        }
    }
    Ok(out)
}

/// Soft predictions kept for the losses: (scores [C,H,W], labels (255 = ignored), C, H, W).
type Soft = (Vec<f32>, Vec<u8>, usize, usize, usize);

/// Non-zero confusion counts of one image: (true class, predicted class, pixels).
type Sparse = Vec<(u32, u32, u64)>;

/// One scored image.
struct Scored {
    stem: String,
    /// The prediction file, named when its losses fail.
    pred: PathBuf,
    confusion: Sparse,
    /// Soft predictions, for the losses.
    soft: Option<Soft>,
    /// Its share of the decoding budget, given back when the image is dropped.
    _ticket: Ticket,
}

/// Class of an ignored ground-truth pixel.
const IGNORED: u32 = u32::MAX;

/// The class of a ground-truth value (`IGNORED` = ignored).
fn gt_class(v: i64, classes: usize, binary: bool, ignore: Option<i64>, at: (usize, usize)) -> Result<u32, String> {
    if ignore == Some(v) {
        return Ok(IGNORED);
    }
    if binary {
        return Ok((v > 0) as u32);
    }
    if v < 0 || v as u64 >= classes as u64 {
        return Err(format!(
            "ground-truth class {v} at row {}, column {} is not below {classes} (and not the ignore index)",
            at.0, at.1
        ));
    }
    Ok(v as u32)
}

fn score(o: &Options, budget: &std::sync::Arc<Budget>, stem: &str, pred: &Path, gt: &Path) -> Result<Scored, String> {
    let binary = o.classes.is_none();
    let c = o.classes.unwrap_or(2);
    let (pshow, gshow) = (pred.display(), gt.display());
    // Sizes from the headers first: the budget, the pair's agreement and the channels are
    // checked before a pixel is decoded.
    let gp = probe(gt).map_err(|e| format!("{gshow}: {e}"))?;
    let pp = probe(pred).map_err(|e| format!("{pshow}: {e}"))?;
    if gp.scores {
        return Err(format!("{gshow}: ground truth must be a label map (integers), not scores"));
    }
    for (show, p) in [(&gshow, &gp), (&pshow, &pp)] {
        if p.values() > o.max_pixels || p.h == 0 || p.w == 0 || p.c == 0 {
            // The reader says why, in the same words for every file.
            read_mask_limited(if std::ptr::eq(p, &gp) { gt } else { pred }, o.max_pixels)
                .map_err(|e| format!("{show}: {e}"))?;
        }
    }
    if (pp.h, pp.w) != (gp.h, gp.w) {
        return Err(format!("{pshow}: prediction is {}x{} but the ground truth is {}x{}", pp.h, pp.w, gp.h, gp.w));
    }
    let want = if binary { 1 } else { c };
    if pp.scores && pp.c != want {
        return Err(format!("{pshow}: {} score channels for {want} classes", pp.c));
    }
    let ticket = Budget::take(budget, gp.values().saturating_add(pp.values()));
    let (h, w) = (gp.h, gp.w);
    let gt_mask = read_mask_limited(gt, o.max_pixels).map_err(|e| format!("{gshow}: {e}"))?;
    let Mask::Labels { h: gh, w: gw, values: gt_values } = gt_mask else {
        return Err(format!("{gshow}: ground truth must be a label map (integers), not scores"));
    };
    if (gh, gw) != (h, w) {
        return Err(format!("{gshow}: the file changed while it was read"));
    }
    let mut labels = Vec::with_capacity(h * w);
    for (i, &v) in gt_values.iter().enumerate() {
        labels.push(gt_class(v, c, binary, o.ignore, (i / w, i % w)).map_err(|e| format!("{gshow}: {e}"))?);
    }
    drop(gt_values);
    let pred_mask = read_mask_limited(pred, o.max_pixels).map_err(|e| format!("{pshow}: {e}"))?;
    if pred_mask.size() != (h, w) {
        return Err(format!("{pshow}: the file changed while it was read"));
    }
    let (pred_class, soft): (Vec<u32>, _) = match pred_mask {
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
                    .map(|&v| if max <= 1 { (v == 1) as u32 } else { (v as f64 / scale >= o.threshold) as u32 })
                    .collect()
            } else {
                if let Some((i, &v)) = values.iter().enumerate().find(|(_, &v)| v < 0 || v as u64 >= c as u64) {
                    return Err(format!(
                        "{pshow}: predicted class {v} at row {}, column {} is not below {c}",
                        i / w,
                        i % w
                    ));
                }
                values.iter().map(|&v| v as u32).collect()
            };
            (classes, None)
        }
        Mask::Scores { c: pc, values, .. } => {
            if let Some((i, v)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
                let hw = h * w;
                let (k, px) = (i / hw, i % hw);
                return Err(format!(
                    "{pshow}: score {v} (not finite) at channel {k}, row {}, column {}",
                    px / w,
                    px % w
                ));
            }
            if binary && pc == 1 {
                let to_p = |x: f32| if o.logits { 1.0 / (1.0 + (-x as f64).exp()) } else { x as f64 };
                let classes = values.iter().map(|&x| (to_p(x) >= o.threshold) as u32).collect();
                let lab: Vec<u8> = labels.iter().map(|&l| if l == IGNORED { 255 } else { l as u8 }).collect();
                (classes, Some((values, lab, 1, h, w)))
            } else if !binary && pc == c {
                let hw = h * w;
                let classes = (0..hw)
                    .map(|i| {
                        (0..c).fold(0, |best, k| if values[k * hw + i] > values[best * hw + i] { k } else { best })
                            as u32
                    })
                    .collect();
                let lab: Vec<u8> = labels.iter().map(|&l| if l == IGNORED { 255 } else { l.min(254) as u8 }).collect();
                (classes, (c <= 254).then_some((values, lab, c, h, w)))
            } else {
                return Err(format!("{pshow}: {pc} score channels for {want} classes"));
            }
        }
    };
    let confusion = count(&labels, &pred_class, c);
    if let Some(dir) = &o.overlay {
        let rgb: Vec<u8> = labels
            .iter()
            .zip(&pred_class)
            .flat_map(|(&t, &p)| match t {
                IGNORED => [0, 0, 0],
                t if t == p && p != 0 => [40, 200, 60], // true positive: green
                t if p != 0 && p != t => [220, 40, 40], // false positive (or wrong class): red
                t if t != 0 && p == 0 => [40, 90, 230], // false negative: blue
                _ => [70, 70, 70],                      // true background: grey
            })
            .collect();
        write_rgb_png(&dir.join(format!("{stem}.png")), w, h, &rgb).map_err(|e| format!("overlay: {e}"))?;
    }
    Ok(Scored { stem: stem.to_string(), pred: pred.to_path_buf(), confusion, soft, _ticket: ticket })
}

/// The non-zero confusion counts of one image: dense counters for few classes, a map for
/// many (memory grows with the pixels, never with C²).
fn count(labels: &[u32], pred: &[u32], c: usize) -> Sparse {
    if c <= 64 {
        let mut dense = vec![0u64; c * c];
        for (&t, &p) in labels.iter().zip(pred) {
            if t != IGNORED {
                dense[t as usize * c + p as usize] += 1;
            }
        }
        return dense
            .iter()
            .enumerate()
            .filter(|(_, &n)| n > 0)
            .map(|(i, &n)| ((i / c) as u32, (i % c) as u32, n))
            .collect();
    }
    let mut map: std::collections::HashMap<(u32, u32), u64> = std::collections::HashMap::new();
    for (&t, &p) in labels.iter().zip(pred) {
        if t != IGNORED {
            *map.entry((t, p)).or_default() += 1;
        }
    }
    let mut v: Sparse = map.into_iter().map(|((t, p), n)| (t, p, n)).collect();
    v.sort_unstable();
    v
}

/// Per-class metrics, mean IoU (over classes occurring) and pixel accuracy of a confusion matrix.
struct Summary {
    per_class: Vec<Metrics>,
    mean_iou: f64,
    pixel_accuracy: f64,
    pixels: u64,
}

/// The summary of confusion counts given as (true class, predicted class, pixels).
fn summarize(counts: impl Iterator<Item = (usize, usize, u64)>, c: usize) -> Summary {
    let (mut tp, mut fp, mut fn_) = (vec![0u64; c], vec![0u64; c], vec![0u64; c]);
    let mut pixels = 0u64;
    for (t, p, n) in counts {
        pixels += n;
        if t == p {
            tp[t] += n;
        } else {
            fp[p] += n;
            fn_[t] += n;
        }
    }
    let mut per_class = Vec::with_capacity(c);
    let mut ious = Vec::new();
    for k in 0..c {
        let m = Metrics::from_counts(tp[k], fp[k], fn_[k]);
        if tp[k] + fp[k] + fn_[k] > 0 {
            ious.push(m.iou);
        }
        per_class.push(m);
    }
    let correct: u64 = tp.iter().sum();
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
    .and_then(|v| match v.iter().find(|x| !x.is_finite()) {
        Some(x) => Err(format!("a loss is not finite ({x}): the scores are too extreme")),
        None => Ok(v),
    })
}

/// Peak resident memory of this process in KiB (Linux), for the memory report.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

pub fn run(o: &Options) -> Res<i32> {
    let c = o.classes.unwrap_or(2);
    let mut skipped: Vec<(String, String)> = Vec::new();
    let preds = list(&o.pred, &mut skipped)?;
    let mut gts = list(&o.gt, &mut skipped)?;
    if let Some(dir) = &o.overlay {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("--overlay {}: cannot create the folder: {e}", dir.display()))?;
    }
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
        return Err(format!("{}: {} (--strict)", skipped[0].0, skipped[0].1).into());
    }
    if pairs.is_empty() {
        report_skipped(&skipped);
        return Err(format!(
            "no image pairs to score: no file in --pred {} has a ground truth of the same name in --gt {}",
            o.pred.display(),
            o.gt.display()
        )
        .into());
    }
    let engine = std::cell::OnceCell::new();
    let total = pairs.len();
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let budget =
        std::sync::Arc::new(Budget { limit: o.max_pixels, used: Default::default(), freed: Default::default() });
    let threads = o.threads.min(total);
    let (tx, rx) = sync_channel::<Result<Scored, (String, String)>>(threads);
    let mut dataset = vec![0u64; c * c];
    // Running sums for the means over images (nothing per image is kept).
    let mut scored_images = 0usize;
    let mut sum_iou = vec![0.0; c];
    let mut sum_dice = vec![0.0; c];
    let mut sum_precision = vec![0.0; c];
    let mut sum_recall = vec![0.0; c];
    let (mut sum_miou, mut sum_acc) = (0.0, 0.0);
    let n_losses = loss_terms(o.classes.is_some()).len();
    let mut output = match &o.out {
        Some(p) => Some(Output::create(p, c, o.classes.is_some())?),
        None => None,
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
    std::thread::scope(|scope| -> Res<()> {
        for _ in 0..threads {
            let tx = tx.clone();
            let (pairs, next, stop, budget) = (&pairs, &next, &stop, &budget);
            scope.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= pairs.len() || stop.load(Ordering::Relaxed) {
                    break;
                }
                let (stem, p, g) = &pairs[i];
                let result = score(o, budget, stem, p, g).map_err(|e| (stem.clone(), e));
                if tx.send(result).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        let outcome = (|| -> Res<()> {
            for result in &rx {
                done += 1;
                // An image's losses are computed before its counts are merged: one that fails
                // is skipped like any other bad file.
                let result = result.and_then(|scored| {
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
                    Ok((scored, losses))
                });
                match result {
                    Ok((scored, losses)) => {
                        for &(t, p, n) in &scored.confusion {
                            dataset[t as usize * c + p as usize] += n;
                        }
                        let summary =
                            summarize(scored.confusion.iter().map(|&(t, p, n)| (t as usize, p as usize, n)), c);
                        if let (Some(out), Some(path)) = (output.as_mut(), &o.out) {
                            out.image(path, &scored.stem, &summary, losses.as_deref(), n_losses)?;
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
                            return Ok(());
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
        })();
        // Stop the workers and let blocked senders finish before the scope joins them.
        stop.store(true, Ordering::Relaxed);
        for _ in rx.try_iter() {}
        drop(rx);
        outcome
    })?;
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    if o.strict && !skipped.is_empty() {
        return Err(format!("{}: {} (--strict)", skipped[0].0, skipped[0].1).into());
    }
    if scored_images == 0 {
        report_skipped(&skipped);
        return Err("no image could be scored (every pair was skipped; reasons above)".into());
    }
    let elapsed = start.elapsed().as_secs_f64();
    let pooled = summarize(dataset.iter().enumerate().filter(|(_, &n)| n > 0).map(|(i, &n)| (i / c, i % c, n)), c);
    // Mean over images: each image's value, averaged over the scored images.
    let n_img = scored_images as f64;
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
    if let (Some(out), Some(path)) = (output, &o.out) {
        out.finish(path, (&pooled, &mean_summary), &dataset, c, &skipped, n_losses)?;
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
        report_skipped(&skipped);
        return Ok(1);
    }
    Ok(0)
}

/// The skipped files and why, on standard output (names with control characters escaped).
fn report_skipped(skipped: &[(String, String)]) {
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
