//! `segloss merge`: the report of one `segloss eval` run, from the partial results of its
//! shards (`eval --shard K/N --partial FILE`). The partials are checked to be the N shards of
//! one listing under one set of options; the report is then written by eval's own code from
//! the merged totals (exact: the same bytes as an unsharded run).

use crate::eval::partial::Partial;
use crate::eval::report::Report;
use crate::eval::totals::{image_summary, Totals};
use crate::eval::{check_out, Res, Skip};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const HELP: &str = "\
segloss merge — the report of a sharded `segloss eval` from its partial results

USAGE:
    segloss merge PART.json... [--out FILE.csv|FILE.json]

Reads the partial results of all N shards (`segloss eval ... --shard K/N --partial PART.json`,
K = 0..N-1) and writes the report one `segloss eval ... --out FILE` over all pairs would have
written, byte for byte, and prints its summary. Refuses, naming the file: a file that is not
a partial, another format version, a shard given twice, missing shards, partials of different
N, of other eval options or of another list of pairs. The exit code is 1 if any file was
skipped by the shards (listed at the end), as for eval.

EXAMPLE:
    segloss merge parts/part-*.json --out scores.json
";

pub struct Options {
    pub partials: Vec<PathBuf>,
    pub out: Option<PathBuf>,
}

pub fn parse(args: &[String]) -> Res<Options> {
    let mut o = Options { partials: Vec::new(), out: None };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--out" => o.out = Some(it.next().ok_or("--out needs a value")?.into()),
            "--help" | "-h" => {
                print!("{HELP}");
                std::process::exit(0)
            }
            other if other.starts_with("--") => return Err(format!("merge: unknown option '{other}'\n\n{HELP}").into()),
            file => o.partials.push(file.into()),
        }
    }
    if o.partials.is_empty() {
        return Err(format!("merge needs the partial result files of the shards\n\n{HELP}").into());
    }
    if let Some(out) = &o.out {
        check_out(out)?;
        if let Some(p) = o.partials.iter().find(|p| segloss::io::same_file(out, p)) {
            return Err(
                format!("--out {}: is the partial {}; it would be overwritten", out.display(), p.display()).into()
            );
        }
    }
    Ok(o)
}

pub fn run(o: &Options) -> Res<i32> {
    let mut parts = Vec::with_capacity(o.partials.len());
    for path in &o.partials {
        let part = Partial::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        parts.push((path.as_path(), part));
    }
    let parts = in_shard_order(parts)?;
    let first = &parts[0].1;
    let c = first.header.setup.report_classes();
    let surface = first.header.setup.surface.is_some();
    let mut totals = Totals::new(c, surface);
    for (path, part) in &parts {
        totals.merge(&part.totals).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let mut report = Report::create(o.out.as_deref(), c, first.header.setup.classes.is_some(), surface)?;
    let mut skipped: Vec<Skip> = first.listing_skips.clone();
    for (_, part) in &parts {
        for row in &part.rows {
            let mut summary = image_summary(&row.confusion, c);
            summary.surface = row.surface.clone();
            report.image(row, &summary)?;
        }
        skipped.extend(part.pair_skips.iter().map(|(_, skip)| skip.clone()));
    }
    let n = parts.len();
    report.finish(&totals, &skipped, |images, skips| {
        format!("segloss merge: {images} images scored, {skips} skipped, from {n} partial results")
    })
}

/// The partials sorted by shard, once each shard 0..N-1 is there exactly once and all of
/// them come from one listing under one set of options.
fn in_shard_order(parts: Vec<(&Path, Partial)>) -> Res<Vec<(&Path, Partial)>> {
    let (first_path, first) = &parts[0];
    let first_shown = first_path.display();
    for (path, part) in &parts[1..] {
        let shown = path.display();
        let (h, f) = (&part.header, &first.header);
        if h.shard.count != f.shard.count {
            return Err(format!(
                "{shown}: is shard {} but {first_shown} is shard {}: partials of different shard counts N do not merge",
                h.shard, f.shard
            )
            .into());
        }
        if let Some(diff) = f.setup.difference(&h.setup) {
            return Err(format!(
                "{shown}: made with other eval options than {first_shown} ({diff}): such partials do not merge"
            )
            .into());
        }
        if (h.pairs, &h.pairs_digest) != (f.pairs, &f.pairs_digest) || part.listing_skips != first.listing_skips {
            return Err(format!(
                "{shown}: cut from another list of files than {first_shown} ({} pairs vs {}, or other names): \
                 every shard must list the same --pred and --gt folders",
                h.pairs, f.pairs
            )
            .into());
        }
        if let (Some(a), Some(b)) = (&part.loss_engine, &first.loss_engine) {
            if a != b {
                return Err(format!(
                    "{shown}: its losses were computed on {a}, those of {first_shown} on {b}: \
                     the report of one run has one engine"
                )
                .into());
            }
        }
    }
    let count = first.header.shard.count;
    let mut by_shard: BTreeMap<u64, (&Path, Partial)> = BTreeMap::new();
    for (path, part) in parts {
        let k = part.header.shard.index;
        if let Some((other, _)) = by_shard.get(&k) {
            return Err(format!(
                "{}: is shard {k}/{count}, and so is {}: each shard must be given once",
                path.display(),
                other.display()
            )
            .into());
        }
        by_shard.insert(k, (path, part));
    }
    let missing: Vec<u64> = (0..count).filter(|k| !by_shard.contains_key(k)).collect();
    if !missing.is_empty() {
        let mut list: Vec<String> = missing.iter().take(20).map(u64::to_string).collect();
        if missing.len() > 20 {
            list.push(format!("and {} more", missing.len() - 20));
        }
        return Err(format!(
            "missing shard{} {} (of {count}, numbered 0 to {}): not among the {} partial results given",
            if missing.len() > 1 { "s" } else { "" },
            list.join(", "),
            count - 1,
            by_shard.len()
        )
        .into());
    }
    Ok(by_shard.into_values().collect())
}
