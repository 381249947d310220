//! A shard's partial result (`eval --shard K/N --partial FILE`), written and read back.
//!
//! One JSON object (format `segloss-eval-partial`, version 2; version 1 had no surface
//! metrics):
//!
//! | key | what |
//! |---|---|
//! | `format`, `version`, `segloss` | the format's name and version; the writing segloss's version |
//! | `shard`, `shards` | K and N |
//! | `pairs`, `pairs_digest` | the number of pairs in the whole listing and a fingerprint of their names |
//! | `options` | the eval options that change a report: `num_classes` (null: binary), `ignore_index`, `threshold`, `logits`, `max_pixels`, `surface` (null, or `nsd_tolerance` and `spacing`: null or its list) |
//! | `images` | in pair order: `index` (in the whole listing), `image` (stem), `confusion` (non-zero counts as flat triples true, predicted, pixels, sorted), `losses` (null, or each f64's bits as 16 hex digits: exact), `surface` (null, or per class the list hd, hd95, assd, nsd: each null or its f64 bits in hex) |
//! | `pair_skips` | pairs of this shard that were skipped: `index`, `file`, `reason` |
//! | `listing_skips` | files that could not be paired (the same in every shard) |
//! | `loss_engine` | the engine that computed the losses (null if none did) |
//! | `totals` | `images`, `confusion` (triples), and for each mean over images the exact sum of the images' values (`iou`, `dice`, `precision`, `recall`: one per class; `mean_iou`, `pixel_accuracy`: a list of one), each as the hex integer sum · 2^1074; `surface`: null, or per metric `hd` … `nsd` the sums (one per class, as above) and `hd_count` … `nsd_count` the numbers of images where it was defined |
//!
//! Read back as untrusted input: every count and index is checked against the options and
//! the shard before it is used, nothing is allocated from a number in the file, and the
//! totals must equal those recomputed from the images.

use super::exact_sum::ExactSum;
use super::losses::loss_terms;
use super::shard::Shard;
use super::surface::{pick, SurfaceSetup, SurfaceSums, NAMES};
use super::totals::{ImageSums, Totals};
use super::{Options, Res, Row, Skip, Sparse, MAX_CLASSES};
use segloss::io::AtomicFile;
use segloss::surface::SurfaceMetrics;
use serde_json::{json, Map, Value};
use std::io::Write;
use std::path::Path;

pub(crate) const FORMAT: &str = "segloss-eval-partial";
pub(crate) const VERSION: u64 = 2;
/// The largest `--max-pixels`.
const MAX_PIXELS_LIMIT: u64 = 1 << 40;

/// The eval options that change a report; partials merge only if theirs are equal.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Setup {
    pub(crate) classes: Option<usize>,
    pub(crate) ignore: Option<i64>,
    pub(crate) threshold: f64,
    pub(crate) logits: bool,
    pub(crate) max_pixels: u64,
    pub(crate) surface: Option<SurfaceSetup>,
}

impl Setup {
    pub(crate) fn of(o: &Options) -> Setup {
        Setup {
            classes: o.classes,
            ignore: o.ignore,
            threshold: o.threshold,
            logits: o.logits,
            max_pixels: o.max_pixels,
            surface: o.surface.clone(),
        }
    }

    /// Classes in the report (binary: 2).
    pub(crate) fn report_classes(&self) -> usize {
        self.classes.unwrap_or(2)
    }

    fn to_json(&self) -> Value {
        json!({
            "num_classes": self.classes,
            "ignore_index": self.ignore,
            "threshold": self.threshold,
            "logits": self.logits,
            "max_pixels": self.max_pixels,
            "surface": self.surface.as_ref().map(|s| json!({"nsd_tolerance": s.tolerance, "spacing": s.spacing})),
        })
    }

    fn from_json(v: &Value) -> Result<Setup, String> {
        let o = object(v, "options")?;
        let classes = match field(o, "num_classes")? {
            Value::Null => None,
            v => Some(bounded(v, "options.num_classes", 2, MAX_CLASSES as u64)? as usize),
        };
        let ignore = match field(o, "ignore_index")? {
            Value::Null => None,
            v => Some(v.as_i64().ok_or("options.ignore_index is not a whole number")?),
        };
        let threshold = field(o, "threshold")?
            .as_f64()
            .filter(|t| (0.0..=1.0).contains(t))
            .ok_or("options.threshold is not a number in [0, 1]")?;
        let logits = field(o, "logits")?.as_bool().ok_or("options.logits is not true or false")?;
        let max_pixels = bounded(field(o, "max_pixels")?, "options.max_pixels", 1, MAX_PIXELS_LIMIT)?;
        let surface = match field(o, "surface")? {
            Value::Null => None,
            v => {
                let s = object(v, "options.surface")?;
                let tolerance = field(s, "nsd_tolerance")?
                    .as_f64()
                    .filter(|t| t.is_finite() && *t >= 0.0)
                    .ok_or("options.surface.nsd_tolerance is not a finite number ≥ 0")?;
                let spacing = match field(s, "spacing")? {
                    Value::Null => None,
                    v => {
                        let list = array(v, "options.surface.spacing")?;
                        let text = list.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(",");
                        if list.len() > 3 || list.iter().any(|x| !x.is_number()) {
                            return Err("options.surface.spacing is not 2 or 3 numbers".into());
                        }
                        Some(super::surface::parse_spacing(&text)?)
                    }
                };
                Some(SurfaceSetup { tolerance, spacing })
            }
        };
        Ok(Setup { classes, ignore, threshold, logits, max_pixels, surface })
    }

    /// The first option in which `other` differs, as "--flag this vs that".
    pub(crate) fn difference(&self, other: &Setup) -> Option<String> {
        let show = |v: Option<String>| v.unwrap_or_else(|| "(not given)".into());
        [
            ("--num-classes", show(self.classes.map(|c| c.to_string())), show(other.classes.map(|c| c.to_string()))),
            ("--ignore-index", show(self.ignore.map(|i| i.to_string())), show(other.ignore.map(|i| i.to_string()))),
            ("--threshold", self.threshold.to_string(), other.threshold.to_string()),
            ("--logits", self.logits.to_string(), other.logits.to_string()),
            ("--max-pixels", self.max_pixels.to_string(), other.max_pixels.to_string()),
            ("--surface/--nsd-tolerance/--spacing", format!("{:?}", self.surface), format!("{:?}", other.surface)),
        ]
        .into_iter()
        .find(|(_, a, b)| a != b)
        .map(|(flag, a, b)| format!("{flag} {a} vs {b}"))
    }
}

/// What identifies a partial: its shard, the pair list it was cut from and the options.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Header {
    pub(crate) shard: Shard,
    pub(crate) pairs: u64,
    pub(crate) pairs_digest: String,
    pub(crate) setup: Setup,
}

/// A partial result being written: images are streamed; skips and totals come at the end.
pub(crate) struct PartialWriter {
    file: AtomicFile,
    images: usize,
}

impl PartialWriter {
    pub(crate) fn create(path: &Path, header: &Header) -> Res<PartialWriter> {
        let mut file = AtomicFile::create(path)?;
        let head = json!({
            "format": FORMAT,
            "version": VERSION,
            "segloss": env!("CARGO_PKG_VERSION"),
            "shard": header.shard.index,
            "shards": header.shard.count,
            "pairs": header.pairs,
            "pairs_digest": header.pairs_digest,
            "options": header.setup.to_json(),
        });
        // The header's members, then the image list left open.
        let text = head.to_string();
        let members = text.strip_suffix('}').unwrap_or(&text);
        write!(file.writer(), "{members},\"images\":[").map_err(|e| file.write_error(e))?;
        Ok(PartialWriter { file, images: 0 })
    }

    pub(crate) fn image(&mut self, row: &Row) -> Res<()> {
        let losses = row.losses.as_ref().map(|l| l.iter().map(|v| format!("{:016x}", v.to_bits())).collect::<Vec<_>>());
        let surface = row.surface.as_ref().map(|v| {
            v.iter()
                .map(|m| {
                    (0..NAMES.len()).map(|i| pick(m, i).map(|x| format!("{:016x}", x.to_bits()))).collect::<Vec<_>>()
                })
                .collect::<Vec<_>>()
        });
        let v = json!({"index": row.index, "image": row.stem, "confusion": flat(&row.confusion), "losses": losses, "surface": surface});
        let sep = if self.images > 0 { "," } else { "" };
        self.images += 1;
        write!(self.file.writer(), "{sep}{v}").map_err(|e| self.file.write_error(e))?;
        Ok(())
    }

    pub(crate) fn finish(
        mut self,
        totals: &Totals,
        pair_skips: &[(usize, Skip)],
        listing_skips: &[Skip],
        loss_engine: Option<&str>,
    ) -> Res<()> {
        let c = totals.classes;
        let confusion: Sparse = (0..c * c)
            .filter(|&i| totals.confusion[i] > 0)
            .map(|i| ((i / c) as u32, (i % c) as u32, totals.confusion[i]))
            .collect();
        let mut sums = Map::new();
        sums.insert("images".into(), totals.images.into());
        sums.insert("confusion".into(), flat(&confusion).into());
        for (name, list) in totals.sums.lists() {
            sums.insert(name.into(), list.iter().map(|s| s.to_hex()).collect::<Vec<_>>().into());
        }
        let surface = totals.surface.as_ref().map(|t| {
            let mut m = Map::new();
            for (i, name) in NAMES.iter().enumerate() {
                m.insert((*name).into(), t.sums[i].iter().map(|s| s.to_hex()).collect::<Vec<_>>().into());
                m.insert(format!("{name}_count"), t.counts[i].clone().into());
            }
            Value::Object(m)
        });
        sums.insert("surface".into(), surface.into());
        let tail = json!({
            "pair_skips": pair_skips.iter().map(|(i, (f, r))| json!({"index": i, "file": f, "reason": r})).collect::<Vec<_>>(),
            "listing_skips": listing_skips.iter().map(|(f, r)| json!({"file": f, "reason": r})).collect::<Vec<_>>(),
            "loss_engine": loss_engine,
            "totals": sums,
        });
        let text = tail.to_string();
        let members = text.strip_prefix('{').unwrap_or(&text);
        write!(self.file.writer(), "],{members}").map_err(|e| self.file.write_error(e))?;
        self.file.commit()?;
        Ok(())
    }
}

/// Counts as flat triples (true, predicted, pixels).
fn flat(s: &Sparse) -> Vec<u64> {
    s.iter().flat_map(|&(t, p, n)| [t as u64, p as u64, n]).collect()
}

/// A partial result read back and checked.
pub(crate) struct Partial {
    pub(crate) header: Header,
    pub(crate) rows: Vec<Row>,
    pub(crate) pair_skips: Vec<(usize, Skip)>,
    pub(crate) listing_skips: Vec<Skip>,
    pub(crate) loss_engine: Option<String>,
    pub(crate) totals: Totals,
}

impl Partial {
    /// Reads and checks the partial at `path` (the error does not name the file: the caller
    /// does).
    pub(crate) fn read(path: &Path) -> Result<Partial, String> {
        let (file, _) = segloss::io::open_regular(path)?;
        let v: Value = serde_json::from_reader(std::io::BufReader::new(file))
            .map_err(|e| format!("not a segloss eval partial: not JSON ({e})"))?;
        Partial::from_json(&v)
    }

    fn from_json(v: &Value) -> Result<Partial, String> {
        let not_partial = || format!("not a segloss eval partial (no \"format\": \"{FORMAT}\")");
        let o = v.as_object().ok_or_else(not_partial)?;
        if o.get("format").and_then(Value::as_str) != Some(FORMAT) {
            return Err(not_partial());
        }
        let version = field(o, "version")?.as_u64();
        if version != Some(VERSION) {
            let writer = o.get("segloss").and_then(Value::as_str).filter(|w| w.len() <= 40).unwrap_or("unknown");
            return Err(format!(
                "partial format version {} (written by segloss {writer}); this segloss ({}) reads version {VERSION}",
                kind(field(o, "version")?),
                env!("CARGO_PKG_VERSION")
            ));
        }
        let count = bounded(field(o, "shards")?, "shards", 1, super::shard::MAX_SHARDS)?;
        let index = bounded(field(o, "shard")?, "shard", 0, count - 1)?;
        let shard = Shard::new(index, count)?;
        let pairs = bounded(field(o, "pairs")?, "pairs", 1, usize::MAX as u64)?;
        let pairs_digest = field(o, "pairs_digest")?.as_str().ok_or("pairs_digest is not a string")?.to_string();
        let setup = Setup::from_json(field(o, "options")?)?;
        let header = Header { shard, pairs, pairs_digest, setup };
        let c = header.setup.report_classes();
        let range = shard.range(pairs);
        let n_losses = loss_terms(header.setup.classes.is_some()).len();
        let rows = array(field(o, "images")?, "images")?
            .iter()
            .map(|r| row(r, c, header.setup.max_pixels, n_losses, header.setup.surface.is_some()))
            .collect::<Result<Vec<Row>, String>>()?;
        let pair_skips = array(field(o, "pair_skips")?, "pair_skips")?
            .iter()
            .map(|s| {
                let i = bounded(field(object(s, "a pair skip")?, "index")?, "a pair skip's index", 0, u64::MAX)?;
                Ok((i as usize, skip(s)?))
            })
            .collect::<Result<Vec<_>, String>>()?;
        check_indices(&rows, &pair_skips, range)?;
        let listing_skips = array(field(o, "listing_skips")?, "listing_skips")?
            .iter()
            .map(skip)
            .collect::<Result<Vec<Skip>, String>>()?;
        let loss_engine = match field(o, "loss_engine")? {
            Value::Null => None,
            v => Some(v.as_str().ok_or("loss_engine is not a string")?.to_string()),
        };
        let totals = totals(object(field(o, "totals")?, "totals")?, c, header.setup.surface.is_some())?;
        let mut recomputed = Totals::new(c, header.setup.surface.is_some());
        for r in &rows {
            recomputed.add_image(&r.confusion, r.surface.as_deref())?;
        }
        if recomputed != totals {
            return Err("its totals do not match its images (the file was edited or is corrupt)".into());
        }
        Ok(Partial { header, rows, pair_skips, listing_skips, loss_engine, totals })
    }
}

/// The images and skipped pairs of a shard cover its range exactly once, in order.
fn check_indices(rows: &[Row], skips: &[(usize, Skip)], range: std::ops::Range<u64>) -> Result<(), String> {
    let (rows, skips) = (rows.iter().map(|r| r.index as u64), skips.iter().map(|s| s.0 as u64));
    for (what, list) in [("an image", rows.clone().collect::<Vec<_>>()), ("a skipped pair", skips.clone().collect())] {
        if let Some(i) = list.iter().find(|i| !range.contains(i)) {
            return Err(format!("{what}'s pair {i} is outside this shard's pairs {}..{}", range.start, range.end));
        }
        if let Some(w) = list.windows(2).find(|w| w[0] >= w[1]) {
            return Err(format!("{what}'s pair {} comes after pair {}: out of order or repeated", w[1], w[0]));
        }
    }
    // Both lists sorted and inside the range: together they must hold each index once.
    let (mut rows, mut skips) = (rows.peekable(), skips.peekable());
    for expected in range {
        match (rows.peek(), skips.peek()) {
            (Some(&a), Some(&b)) if a == b => return Err(format!("pair {a} is both an image and a skipped pair")),
            (Some(&a), _) if a == expected => drop(rows.next()),
            (_, Some(&b)) if b == expected => drop(skips.next()),
            _ => return Err(format!("pair {expected} is missing (neither an image nor a skipped pair)")),
        }
    }
    Ok(())
}

fn row(v: &Value, c: usize, max_pixels: u64, n_losses: usize, surface: bool) -> Result<Row, String> {
    let o = object(v, "an image")?;
    let index = bounded(field(o, "index")?, "an image's index", 0, u64::MAX)? as usize;
    let stem = field(o, "image")?.as_str().ok_or("an image's name is not a string")?.to_string();
    let at = |what: &str| format!("image {index} ({stem}): {what}");
    let confusion = sparse(field(o, "confusion")?, c).map_err(|e| at(&e))?;
    let pixels = confusion.iter().try_fold(0u64, |sum, &(_, _, n)| sum.checked_add(n));
    if pixels.is_none_or(|p| p > max_pixels) {
        return Err(at(&format!("more than --max-pixels {max_pixels} pixels")));
    }
    let losses = match field(o, "losses")? {
        Value::Null => None,
        v => {
            let list = array(v, "losses").map_err(|e| at(&e))?;
            if list.len() != n_losses {
                return Err(at(&format!("{} losses where {n_losses} were expected", list.len())));
            }
            Some(list.iter().map(f64_bits).collect::<Result<Vec<f64>, String>>().map_err(|e| at(&e))?)
        }
    };
    let surface = match (field(o, "surface")?, surface) {
        (Value::Null, false) => None,
        (v, true) => Some(surface_row(v, c).map_err(|e| at(&e))?),
        (_, false) => return Err(at("surface metrics in a partial without --surface")),
    };
    Ok(Row { index, stem, confusion, losses, surface })
}

/// An image's surface metrics: per class, 4 values, each null or an f64's bits, ≥ 0.
fn surface_row(v: &Value, c: usize) -> Result<Vec<SurfaceMetrics>, String> {
    let list = array(v, "surface")?;
    if list.len() != c {
        return Err(format!("surface metrics of {} classes where {c} were expected", list.len()));
    }
    list.iter()
        .map(|class| {
            let four = array(class, "a class's surface metrics")?;
            if four.len() != NAMES.len() {
                return Err(format!("{} surface metrics where {} were expected", four.len(), NAMES.len()));
            }
            let mut values = [None; 4];
            for (slot, x) in values.iter_mut().zip(four) {
                *slot = match x {
                    Value::Null => None,
                    x => Some(f64_bits(x).and_then(|d| {
                        if d >= 0.0 {
                            Ok(d)
                        } else {
                            Err(format!("a surface metric is negative ({d})"))
                        }
                    })?),
                };
            }
            Ok(SurfaceMetrics { hd: values[0], hd95: values[1], assd: values[2], nsd: values[3] })
        })
        .collect()
}

fn totals(o: &Map<String, Value>, c: usize, with_surface: bool) -> Result<Totals, String> {
    let images = bounded(field(o, "images")?, "totals.images", 0, u64::MAX)?;
    let confusion = sparse(field(o, "confusion")?, c).map_err(|e| format!("totals: {e}"))?;
    let sums = ImageSums::read(c, |name, len| {
        let list = array(field(o, name)?, name)?;
        if list.len() != len {
            return Err(format!("totals.{name} has {} sums where {len} were expected", list.len()));
        }
        list.iter()
            .map(|s| ExactSum::from_hex(s.as_str().unwrap_or("")).map_err(|e| format!("totals.{name}: {e}")))
            .collect()
    })?;
    let surface = match (field(o, "surface")?, with_surface) {
        (Value::Null, false) => None,
        (v, true) => {
            let s = object(v, "totals.surface")?;
            let mut out = SurfaceSums::new(c);
            for (i, name) in NAMES.iter().enumerate() {
                let sums = array(field(s, name)?, name)?;
                let counts = array(field(s, &format!("{name}_count"))?, name)?;
                if sums.len() != c || counts.len() != c {
                    return Err(format!("totals.surface.{name}: not {c} sums and counts"));
                }
                for k in 0..c {
                    out.sums[i][k] = ExactSum::from_hex(sums[k].as_str().unwrap_or(""))
                        .map_err(|e| format!("totals.surface.{name}: {e}"))?;
                    out.counts[i][k] = bounded(&counts[k], "a surface count", 0, u64::MAX)?;
                }
            }
            Some(out)
        }
        (_, false) => return Err("totals.surface in a partial without --surface".into()),
    };
    Totals::from_parts(c, &confusion, images, sums, surface).map_err(|e| format!("totals: {e}"))
}

/// Flat (true, predicted, pixels) triples: classes below `c`, counts ≥ 1, sorted, no repeats.
fn sparse(v: &Value, c: usize) -> Result<Sparse, String> {
    let flat = array(v, "confusion")?;
    if flat.len() % 3 != 0 {
        return Err(format!("the confusion list has {} numbers, not a multiple of 3", flat.len()));
    }
    let mut out: Sparse = Vec::with_capacity(flat.len() / 3);
    for t in flat.chunks_exact(3) {
        let class = |v: &Value| bounded(v, "a confusion class", 0, c as u64 - 1).map(|k| k as u32);
        let (truth, pred, n) = (class(&t[0])?, class(&t[1])?, bounded(&t[2], "a confusion count", 1, u64::MAX)?);
        if out.last().is_some_and(|&(a, b, _)| (a, b) >= (truth, pred)) {
            return Err(format!("confusion entry ({truth}, {pred}) is out of order or repeated"));
        }
        out.push((truth, pred, n));
    }
    Ok(out)
}

/// An f64 from its bits as 16 hex digits; finite.
fn f64_bits(v: &Value) -> Result<f64, String> {
    let text = v.as_str().filter(|t| t.len() == 16).ok_or("a loss is not 16 hex digits")?;
    let x = u64::from_str_radix(text, 16).map(f64::from_bits).map_err(|_| "a loss is not 16 hex digits")?;
    if x.is_finite() {
        Ok(x)
    } else {
        Err(format!("a loss is not finite ({x})"))
    }
}

fn skip(v: &Value) -> Result<Skip, String> {
    let o = object(v, "a skipped file")?;
    let text = |key: &str| {
        field(o, key)?.as_str().map(str::to_string).ok_or(format!("a skipped file's {key} is not a string"))
    };
    Ok((text("file")?, text("reason")?))
}

fn field<'a>(o: &'a Map<String, Value>, key: &str) -> Result<&'a Value, String> {
    o.get(key).ok_or_else(|| format!("\"{key}\" is missing"))
}

fn object<'a>(v: &'a Value, what: &str) -> Result<&'a Map<String, Value>, String> {
    v.as_object().ok_or_else(|| format!("{what} is not a JSON object"))
}

fn array<'a>(v: &'a Value, what: &str) -> Result<&'a Vec<Value>, String> {
    v.as_array().ok_or_else(|| format!("{what} is not a list"))
}

/// A whole number in `lo..=hi`.
fn bounded(v: &Value, what: &str, lo: u64, hi: u64) -> Result<u64, String> {
    v.as_u64()
        .filter(|n| (lo..=hi).contains(n))
        .ok_or_else(|| format!("{what} is {}, not a whole number in {lo}..={hi}", kind(v)))
}

/// A value in an error message: a number or a constant as it is, anything else by its kind
/// (a file's long strings and lists are not repeated).
fn kind(v: &Value) -> String {
    match v {
        Value::Number(_) | Value::Bool(_) | Value::Null => v.to_string(),
        Value::String(_) => "a string".into(),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "an object".into(),
    }
}
