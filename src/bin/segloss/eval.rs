//! `segloss eval`: score a folder of predicted masks against ground truth.
//!
//! Pairs files by stem; a pool of CPU threads decodes each pair (PNG or .npy), checks it,
//! counts its confusion matrix exactly and writes its overlay (`score.rs`, `pool.rs`); the
//! main thread computes the losses of soft predictions on the GPU engine (`losses.rs`), adds
//! each image to the report's mergeable totals (`totals.rs`) and streams per-image rows in
//! pair order (`report.rs`), showing progress. Only a bounded number of decoded images is in
//! flight at any time. A hard label map needs no GPU: counting it on the CPU costs less than
//! uploading it. With `--shard K/N` (`shard.rs`) the rows and totals of one shard go to a
//! partial result (`partial.rs`) instead, which `segloss merge` turns into the report.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

pub(crate) type Res<T> = std::result::Result<T, Box<dyn std::error::Error>>;

mod budget;
mod exact_sum;
mod losses;
mod output;
pub(crate) mod partial;
mod pool;
pub(crate) mod report;
mod score;
pub(crate) mod shard;
pub(crate) mod surface;
pub(crate) mod totals;
use partial::{Header, PartialWriter, Setup};
use report::{report_skipped, Report};
use shard::Shard;
use totals::Totals;

pub const HELP: &str = "\
segloss eval — score predicted masks against ground truth

USAGE:
    segloss eval --pred DIR --gt DIR [--num-classes C] [--ignore-index I] [--threshold T]
                 [--logits] [--out FILE.csv|FILE.json] [--overlay DIR] [--strict] [--threads N]
                 [--max-pixels N] [--shard K/N --partial FILE.json]
                 [--surface [--nsd-tolerance T] [--spacing S1,S2[,S3]] [--surface-engine auto|gpu|cpu]]

Files are paired by name (stem): pred/img7.png with gt/img7.png (or .npy). Ground truth:
PNG (8- or 16-bit grayscale, palette images as class indices) or integer .npy [H,W], or
[D,H,W] for a 3-D volume (prediction and ground truth of the same shape), or NIfTI-1 labels
(.nii / .nii.gz, single file, integer or whole-number voxels; pixdim is not applied: give
--spacing dz,dy,dx).
Predictions: the same, or float .npy scores: [H,W] probabilities (logits with --logits) for
binary, [C,H,W] logits/scores for multiclass (argmax); for scores the losses are reported too.
Binary mode (no --num-classes): ground truth > 0 is foreground; a prediction map of 0/1 is
taken as labels, otherwise value / max-of-depth ≥ T (default 0.5).
Reports per image and for the dataset: per-class IoU and Dice, mean IoU, pixel accuracy,
precision, recall and the confusion matrix. Dataset IoU = Σ intersections / Σ unions over the
dataset ('pooled'); also the mean of per-image values ('mean over images').
--surface adds per image and class the surface metrics of MONAI 1.6.1: hd (Hausdorff), hd95
(95th percentile), assd (average symmetric surface distance) and nsd (normalised surface Dice
at --nsd-tolerance T, default 1), between the edges of the two masks (each mask minus its
erosion by the 4- / 6-neighbour cross; the border is background), Euclidean with --spacing
(y,x or z,y,x; default 1). null where the class is absent from the prediction or the ground
truth (nsd: 0 if absent from one only, null if from both). The dataset row holds their means
over the images where defined. Distances: the GPU engine (f32) if there is one, else the f64
reference; --surface-engine cpu forces the reference.
Unreadable, corrupt, unpaired or mismatched files are skipped with a reason each, listed at
the end; the exit code is 1 if any was skipped. --strict stops at the first.
Limits: --num-classes 2..=2048, --threads 1..=256, --threshold in [0, 1]; an image file may
declare at most --max-pixels values (H*W, C*H*W for scores; default 8388608), checked on its
header before decoding. Only regular files are read (FIFOs and devices are skipped).
Sharded: --shard K/N --partial part-K.json scores only shard K (counted from 0) of N —
the K-th of N contiguous runs of the pairs sorted by name — and writes a partial result
instead of --out; `segloss merge part-*.json --out FILE` then writes the report of one
run over all pairs, bit for bit.

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
    /// `--shard K/N` (always with `partial`).
    pub shard: Option<Shard>,
    /// `--partial FILE.json`: where a shard's partial result goes.
    pub partial: Option<PathBuf>,
    /// `--surface` and its settings.
    pub surface: Option<surface::SurfaceSetup>,
    /// `--surface-engine`: "auto", "gpu" or "cpu".
    pub surface_engine: String,
}

/// The output format, from `--out`'s extension.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Csv,
    Json,
}

pub(crate) fn format_of(path: &Path) -> Option<Format> {
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
        shard: None,
        partial: None,
        surface: None,
        surface_engine: "auto".into(),
    };
    let (mut surface, mut tolerance, mut spacing) = (false, None, None);
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
            "--shard" => o.shard = Some(Shard::parse(value()?)?),
            "--partial" => o.partial = Some(value()?.into()),
            "--surface" => surface = true,
            "--nsd-tolerance" => {
                tolerance = Some(number(a, value()?, |t: &f64| t.is_finite() && *t >= 0.0, "a finite number ≥ 0")?)
            }
            "--spacing" => spacing = Some(surface::parse_spacing(value()?)?),
            "--surface-engine" => {
                let v = value()?;
                if !["auto", "gpu", "cpu"].contains(&v.as_str()) {
                    return Err(format!("--surface-engine '{v}': expected auto, gpu or cpu").into());
                }
                o.surface_engine = v.clone()
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
    if surface {
        o.surface = Some(surface::SurfaceSetup { tolerance: tolerance.unwrap_or(1.0), spacing });
    } else if tolerance.is_some() || spacing.is_some() {
        return Err("--nsd-tolerance and --spacing need --surface".into());
    }
    if o.pred.as_os_str().is_empty() || o.gt.as_os_str().is_empty() {
        return Err(format!("eval needs --pred DIR and --gt DIR\n\n{HELP}").into());
    }
    if let Some(out) = &o.out {
        check_out(out)?;
    }
    match (&o.shard, &o.partial, &o.out) {
        (Some(_), None, _) => {
            return Err("--shard K/N needs --partial FILE.json (where the shard's result goes)".into())
        }
        (None, Some(_), _) => return Err("--partial needs --shard K/N (which shard to score)".into()),
        (Some(_), Some(_), Some(_)) => {
            return Err("--out with --shard: a shard writes --partial; `segloss merge` writes the report".into())
        }
        (Some(_), Some(partial), None) if format_of(partial) != Some(Format::Json) || partial.is_dir() => {
            return Err(format!("--partial {}: must be a file name ending in .json", partial.display()).into());
        }
        _ => {}
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

/// `--out`'s checks, before any work: a .csv or .json file name, not a folder.
pub(crate) fn check_out(out: &Path) -> Res<()> {
    if format_of(out).is_none() {
        return Err(format!("--out {}: the file name must end in .csv or .json", out.display()).into());
    }
    if out.is_dir() {
        return Err(format!("--out {}: is a folder, not a file name", out.display()).into());
    }
    Ok(())
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
        let Some(suffix) = [".png", ".npy", ".nii", ".nii.gz"].into_iter().find(|s| lossy.ends_with(s)) else {
            continue;
        };
        let shown = path.display().to_string();
        let Some(name) = name.to_str() else {
            skipped.push((shown, "the file name is not valid UTF-8".into()));
            continue;
        };
        let stem = &name[..name.len() - suffix.len()];
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

/// Peak resident memory of this process in KiB (Linux), for the memory report.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A pair to score: (stem, prediction file, ground-truth file).
pub(crate) type Pair = (String, PathBuf, PathBuf);

/// A skipped file (or a pair's stem) and why.
pub(crate) type Skip = (String, String);

/// Non-zero confusion counts of one image: (true class, predicted class, pixels), sorted.
pub(crate) type Sparse = Vec<(u32, u32, u64)>;

/// One scored image as a report needs it: its place in the sorted pair list, its name, its
/// exact confusion counts and its losses (soft predictions only).
pub(crate) struct Row {
    pub(crate) index: usize,
    pub(crate) stem: String,
    pub(crate) confusion: Sparse,
    pub(crate) losses: Option<Vec<f64>>,
    /// `--surface`: per class.
    pub(crate) surface: Option<Vec<segloss::surface::SurfaceMetrics>>,
}

/// Where an eval run's images go: into the report, or into a shard's partial result.
enum Sink {
    Report(Report),
    Partial(PartialWriter),
}

pub fn run(o: &Options) -> Res<i32> {
    let c = o.classes.unwrap_or(2);
    let (pairs, listing_skips) = pair_up(o)?;
    if let Some(dir) = &o.overlay {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("--overlay {}: cannot create the folder: {e}", dir.display()))?;
    }
    if o.strict && !listing_skips.is_empty() {
        return Err(format!("{}: {} (--strict)", listing_skips[0].0, listing_skips[0].1).into());
    }
    if pairs.is_empty() {
        report_skipped(&listing_skips);
        return Err(format!(
            "no image pairs to score: no file in --pred {} has a ground truth of the same name in --gt {}",
            o.pred.display(),
            o.gt.display()
        )
        .into());
    }
    let range = match o.shard {
        Some(shard) => {
            let r = shard.range(pairs.len() as u64);
            r.start as usize..r.end as usize
        }
        None => 0..pairs.len(),
    };
    let mut sink = match (o.shard, &o.partial) {
        (Some(shard), Some(path)) => {
            let digest =
                shard::pairs_digest(pairs.iter().map(|(stem, p, g)| [stem.as_str(), file_name(p), file_name(g)]));
            let header = Header { shard, pairs: pairs.len() as u64, pairs_digest: digest, setup: Setup::of(o) };
            Sink::Partial(PartialWriter::create(path, &header)?)
        }
        _ => Sink::Report(Report::create(o.out.as_deref(), c, o.classes.is_some(), o.surface.is_some())?),
    };
    let mut totals = Totals::new(c, o.surface.is_some());
    let mut pair_skips: Vec<(usize, Skip)> = Vec::new();
    let start = Instant::now();
    let loss_engine = pool::score_in_order(o, &pairs[range.clone()], range.start, |index, result| {
        match result {
            Ok(row) => {
                let summary = totals.add_image(&row.confusion, row.surface.as_deref())?;
                match &mut sink {
                    Sink::Report(report) => report.image(&row, &summary)?,
                    Sink::Partial(partial) => partial.image(&row)?,
                }
            }
            Err(skip) => pair_skips.push((index, skip)),
        }
        // --strict stops at the first skipped pair.
        Ok(!o.strict || pair_skips.is_empty())
    })?;
    if let (true, Some((_, (file, reason)))) = (o.strict, pair_skips.first()) {
        return Err(format!("{file}: {reason} (--strict)").into());
    }
    let elapsed = start.elapsed().as_secs_f64();
    let rate = |images: u64| images as f64 / elapsed.max(1e-9);
    match sink {
        Sink::Report(report) => {
            let mut skipped = listing_skips;
            skipped.extend(pair_skips.into_iter().map(|(_, skip)| skip));
            report.finish(&totals, &skipped, |images, skips| {
                format!("segloss eval: {images} images scored, {skips} skipped, {:.0} images/s", rate(images))
            })
        }
        Sink::Partial(partial) => {
            partial.finish(&totals, &pair_skips, &listing_skips, loss_engine.as_deref())?;
            let mut skipped = listing_skips;
            skipped.extend(pair_skips.into_iter().map(|(_, skip)| skip));
            if let (Some(shard), Some(path)) = (o.shard, &o.partial) {
                println!(
                    "segloss eval: shard {shard} (pairs {}..{} of {}): {} images scored, {} skipped, \
                     {:.0} images/s; partial result in {}",
                    range.start,
                    range.end,
                    pairs.len(),
                    totals.images,
                    skipped.len(),
                    rate(totals.images),
                    path.display()
                );
            }
            report_skipped(&skipped);
            Ok(if skipped.is_empty() { 0 } else { 1 })
        }
    }
}

/// A file's name (the pair list's fingerprint ignores where the folders are mounted).
fn file_name(path: &Path) -> &str {
    path.file_name().and_then(|n| n.to_str()).unwrap_or("")
}

/// The pairs of `--pred` and `--gt` files, sorted by stem, and the files that cannot be
/// paired, with the reason.
fn pair_up(o: &Options) -> Res<(Vec<Pair>, Vec<Skip>)> {
    let mut skipped: Vec<Skip> = Vec::new();
    let preds = list(&o.pred, &mut skipped)?;
    let mut gts = list(&o.gt, &mut skipped)?;
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
    Ok((pairs, skipped))
}
