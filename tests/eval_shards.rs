//! Sharded evaluation end to end: `segloss eval --shard K/N --partial` on every shard, then
//! `segloss merge`, gives the very bytes of one unsharded `segloss eval` (JSON and CSV), for
//! N = 4, 1 and more shards than pairs; the report's numbers agree with plain counting done
//! here; every refusal of eval's flags and of merge names the flag or the file; malformed
//! partial files end in a one-line error, never a panic.
mod common;
use common::Rng;
use segloss::io::mask::write_gray_png;
use segloss::io::npy::{Npy, NpyData};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const C: usize = 4;
/// Images in the dataset: more than 4 shards, not a multiple of 4.
const IMAGES: usize = 11;

fn segloss() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_segloss"));
    c.env("XDG_RUNTIME_DIR", std::env::var("XDG_RUNTIME_DIR").unwrap_or_else(|_| "/tmp".into()));
    c
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("segloss-shards-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.join("pred")).unwrap();
    std::fs::create_dir_all(d.join("gt")).unwrap();
    d
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Per image: the confusion matrix (rows: truth), counted here.
struct Truth {
    confusion: Vec<Vec<u64>>,
}

/// `IMAGES` pairs of odd sizes, classes 0..C with an ignore index, label PNGs and .npy score
/// files (these get losses); image 3 has no pixel of class 3 in either file. Also a corrupt
/// pair and an unpaired prediction, which every run skips.
fn dataset(dir: &Path) -> Truth {
    let mut rng = Rng::new(1717);
    let mut confusion = Vec::new();
    for i in 0..IMAGES {
        let (h, w) = (5 + 2 * (i % 3), 7 + 2 * (i % 4));
        let classes = if i == 3 { C - 1 } else { C } as u64;
        let truth: Vec<u16> =
            (0..h * w).map(|_| if rng.uniform() < 0.1 { 255 } else { (rng.next_u64() % classes) as u16 }).collect();
        let mut conf = vec![0u64; C * C];
        write_gray_png(&dir.join(format!("gt/im{i:02}.png")), w, h, &truth, 8, false).unwrap();
        if i % 3 == 1 {
            // Scores [C, H, W]: the prediction is their argmax.
            let scores: Vec<f32> = (0..C * h * w).map(|_| rng.normal() as f32).collect();
            for (px, &t) in truth.iter().enumerate() {
                let p =
                    (0..C).fold(0, |best, k| if scores[k * h * w + px] > scores[best * h * w + px] { k } else { best });
                if t != 255 {
                    conf[t as usize * C + p] += 1;
                }
            }
            let npy = Npy { shape: vec![C, h, w], data: NpyData::F32(scores) };
            std::fs::write(dir.join(format!("pred/im{i:02}.npy")), npy.to_bytes()).unwrap();
        } else {
            let pred: Vec<u16> = truth
                .iter()
                .map(|&t| if t != 255 && rng.uniform() < 0.6 { t } else { (rng.next_u64() % classes) as u16 })
                .collect();
            for (&t, &p) in truth.iter().zip(&pred) {
                if t != 255 {
                    conf[t as usize * C + p as usize] += 1;
                }
            }
            write_gray_png(&dir.join(format!("pred/im{i:02}.png")), w, h, &pred, 8, false).unwrap();
        }
        confusion.push(conf);
    }
    std::fs::write(dir.join("pred/im05b.png"), b"\x89PNG\r\n\x1a\nnot really").unwrap();
    write_gray_png(&dir.join("gt/im05b.png"), 3, 3, &[0; 9], 8, false).unwrap();
    write_gray_png(&dir.join("pred/lonely.png"), 2, 2, &[0; 4], 8, false).unwrap();
    Truth { confusion }
}

fn eval(dir: &Path, extra: &[&str]) -> Output {
    segloss()
        .args(["eval", "--pred", dir.join("pred").to_str().unwrap(), "--gt", dir.join("gt").to_str().unwrap()])
        .args(["--num-classes", "4", "--ignore-index", "255"])
        .args(extra)
        .output()
        .unwrap()
}

fn merge<P: AsRef<std::ffi::OsStr>>(files: &[P], extra: &[&str]) -> Output {
    segloss().arg("merge").args(files).args(extra).output().unwrap()
}

/// The partial results of all N shards (threads vary from shard to shard).
fn shards(dir: &Path, n: usize, tag: &str, extra: &[&str]) -> Vec<PathBuf> {
    (0..n)
        .map(|k| {
            let part = dir.join(format!("{tag}-part-{k}.json"));
            let (spec, threads) = (format!("{k}/{n}"), (1 + k % 3).to_string());
            let args =
                [&["--shard", &spec, "--partial", part.to_str().unwrap(), "--threads", &threads][..], extra].concat();
            let out = eval(dir, &args);
            // Every shard reports the corrupt pair or the unpaired file: exit code 1.
            assert_eq!(out.status.code(), Some(1), "shard {spec}: {}", text(&out));
            assert!(part.is_file(), "shard {spec}: {}", text(&out));
            part
        })
        .collect()
}

fn iou(conf: &[u64], k: usize) -> f64 {
    let tp = conf[k * C + k];
    let fp: u64 = (0..C).filter(|&r| r != k).map(|r| conf[r * C + k]).sum();
    let fn_: u64 = (0..C).filter(|&q| q != k).map(|q| conf[k * C + q]).sum();
    if tp + fp + fn_ == 0 {
        1.0
    } else {
        tp as f64 / (tp + fp + fn_) as f64
    }
}

/// The unsharded report: its numbers against plain counting.
fn check_report(json: &str, truth: &Truth) {
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    let images = v["images"].as_array().unwrap();
    assert_eq!(images.len(), IMAGES);
    let names: Vec<&str> = images.iter().map(|r| r["image"].as_str().unwrap()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "rows in pair order");
    for (i, row) in images.iter().enumerate() {
        for k in 0..C {
            let (got, want) = (row["metrics"]["iou"][k].as_f64().unwrap(), iou(&truth.confusion[i], k));
            assert!((got - want).abs() < 1e-15, "image {i} class {k}: {got} vs {want}");
        }
        assert_eq!(row["losses"].is_array(), i % 3 == 1, "losses only for score files");
    }
    // Image 3 has no class 3: nothing to get wrong, every ratio of the class is 1.
    for metric in ["iou", "dice", "precision", "recall"] {
        assert_eq!(images[3]["metrics"][metric][3].as_f64(), Some(1.0), "{metric}");
    }
    let mut total = vec![0u64; C * C];
    for conf in &truth.confusion {
        total.iter_mut().zip(conf).for_each(|(a, b)| *a += b);
    }
    let got: Vec<u64> = v["confusion"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r.as_array().unwrap().clone())
        .map(|x| x.as_u64().unwrap())
        .collect();
    assert_eq!(got, total);
    for k in 0..C {
        let mean = truth.confusion.iter().map(|conf| iou(conf, k)).sum::<f64>() / IMAGES as f64;
        let reported = v["mean_over_images"]["iou"][k].as_f64().unwrap();
        assert!((reported - mean).abs() < 1e-12, "mean IoU {k}: {reported} vs {mean}");
        assert!((v["dataset_pooled"]["iou"][k].as_f64().unwrap() - iou(&total, k)).abs() < 1e-15);
    }
    let skipped: Vec<&str> = v["skipped"].as_array().unwrap().iter().map(|s| s["file"].as_str().unwrap()).collect();
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    assert!(skipped[0].ends_with("lonely.png") && skipped[1] == "im05b", "{skipped:?}");
}

#[test]
fn merged_shards_are_the_unsharded_report_byte_for_byte() {
    let dir = temp_dir("merge");
    let truth = dataset(&dir);
    let mut reports = Vec::new();
    for (ext, threads) in [("json", "1"), ("json", "3"), ("csv", "2")] {
        let out_path = dir.join(format!("full-{threads}.{ext}"));
        let out = eval(&dir, &["--out", out_path.to_str().unwrap(), "--threads", threads]);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        reports.push(std::fs::read(&out_path).unwrap());
    }
    assert_eq!(reports[0], reports[1], "the report does not depend on the thread count");
    let (json, csv) = (&reports[0], &reports[2]);
    check_report(std::str::from_utf8(json).unwrap(), &truth);
    // 12 pairs (11 images and the corrupt pair): 4 shards of 3, 1 shard, and 15 shards, of
    // which 3 are empty (shard k holds pairs floor(12k/15)..floor(12(k+1)/15)).
    for n in [4, 1, 15] {
        let mut parts = shards(&dir, n, &format!("n{n}"), &[]);
        parts.reverse(); // merge takes them in any order
        for (ext, want) in [("json", json), ("csv", csv)] {
            let merged = dir.join(format!("merged-{n}.{ext}"));
            let out = merge(&parts, &["--out", merged.to_str().unwrap()]);
            assert_eq!(out.status.code(), Some(1), "N = {n}: {}", text(&out));
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(stdout.contains(&format!("{IMAGES} images scored, 2 skipped")), "{stdout}");
            assert!(std::fs::read(&merged).unwrap() == *want, "N = {n}, {ext}: merged report differs from eval's");
        }
    }
    // An empty shard says so and still writes its (mergeable) partial.
    let empty = dir.join("empty.json");
    let out = eval(&dir, &["--shard", "5/15", "--partial", empty.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("(pairs 4..4 of 12): 0 images scored"), "{}", text(&out));
    assert!(empty.is_file());
}

#[test]
fn surface_metrics_merge_byte_for_byte_too() {
    let dir = temp_dir("surface");
    dataset(&dir);
    let surface = ["--surface", "--nsd-tolerance", "1.5", "--spacing", "0.7,1.3", "--surface-engine", "cpu"];
    let mut reports = Vec::new();
    for (ext, threads) in [("json", "1"), ("json", "3"), ("csv", "2")] {
        let out_path = dir.join(format!("full-{threads}.{ext}"));
        let out = eval(&dir, &[&["--out", out_path.to_str().unwrap(), "--threads", threads][..], &surface].concat());
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        reports.push(std::fs::read(&out_path).unwrap());
    }
    assert_eq!(reports[0], reports[1], "the report does not depend on the thread count");
    let (json, csv) = (&reports[0], &reports[2]);
    let doc: serde_json::Value = serde_json::from_slice(json).unwrap();
    // Image 3 has no class 3 in either file: null surface metrics there; the dataset mean of
    // class 3 is over the other images.
    let im03 = doc["images"].as_array().unwrap().iter().find(|i| i["image"] == "im03").unwrap();
    for m in ["hd", "hd95", "assd", "nsd"] {
        assert!(im03["metrics"][m][3].is_null(), "{m}: {}", im03["metrics"][m]);
        assert!(doc["mean_over_images"][m][3].as_f64().is_some_and(|v| v >= 0.0), "{m}");
    }
    for n in [3, 1, 15] {
        let parts = shards(&dir, n, &format!("s{n}"), &surface);
        for (ext, want) in [("json", json), ("csv", csv)] {
            let merged = dir.join(format!("merged-{n}.{ext}"));
            let out = merge(&parts, &["--out", merged.to_str().unwrap()]);
            assert_eq!(out.status.code(), Some(1), "N = {n}: {}", text(&out));
            assert!(std::fs::read(&merged).unwrap() == *want, "N = {n}, {ext}: merged report differs from eval's");
        }
    }
    // Partials with and without --surface (or another tolerance) do not merge.
    let plain = shards(&dir, 2, "plain", &[]);
    let with = shards(&dir, 2, "with", &surface);
    let out = merge(&[&plain[0], &with[1]], &[]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("--surface"), "{}", text(&out));
}

#[test]
fn binary_masks_with_probabilities_merge_byte_for_byte_too() {
    let dir = temp_dir("binary");
    let mut rng = Rng::new(5);
    for i in 0..7 {
        let (h, w) = (3 + i % 4, 5 + 2 * (i % 3));
        let truth: Vec<u16> = (0..h * w).map(|_| if rng.uniform() < 0.4 { 255 } else { 0 }).collect();
        write_gray_png(&dir.join(format!("gt/b{i}.png")), w, h, &truth, 8, false).unwrap();
        if i % 2 == 0 {
            let p: Vec<f32> = (0..h * w).map(|_| rng.uniform() as f32).collect();
            let npy = Npy { shape: vec![h, w], data: NpyData::F32(p) };
            std::fs::write(dir.join(format!("pred/b{i}.npy")), npy.to_bytes()).unwrap();
        } else {
            let pred: Vec<u16> = (0..h * w).map(|_| if rng.uniform() < 0.5 { 255 } else { 0 }).collect();
            write_gray_png(&dir.join(format!("pred/b{i}.png")), w, h, &pred, 8, false).unwrap();
        }
    }
    let run = |args: &[&str]| {
        let out = segloss()
            .args(["eval", "--pred", dir.join("pred").to_str().unwrap(), "--gt", dir.join("gt").to_str().unwrap()])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", text(&out));
    };
    let full = dir.join("full.json");
    run(&["--threshold", "0.3", "--out", full.to_str().unwrap()]);
    let parts: Vec<PathBuf> = (0..3).map(|k| dir.join(format!("p{k}.json"))).collect();
    for (k, part) in parts.iter().enumerate() {
        run(&["--threshold", "0.3", "--shard", &format!("{k}/3"), "--partial", part.to_str().unwrap()]);
    }
    let merged = dir.join("merged.json");
    let out = merge(&parts, &["--out", merged.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let report = std::fs::read_to_string(&full).unwrap();
    assert!(report.contains("\"losses\":[") && report.contains("\"classes\":2"), "{report}");
    assert!(std::fs::read_to_string(&merged).unwrap() == report, "merged binary report differs from eval's");
}

/// Merge's refusal of `files`: exit 1, one line, naming `names` and saying `why`.
fn refused<P: AsRef<std::ffi::OsStr>>(files: &[P], names: &[&Path], why: &str) {
    let out = merge(files, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains(why), "want '{why}': {stderr}");
    for name in names {
        assert!(stderr.contains(&name.display().to_string()), "want {}: {stderr}", name.display());
    }
}

#[test]
fn merge_refuses_what_is_not_the_n_shards_of_one_run() {
    let dir = temp_dir("refuse");
    dataset(&dir);
    let p = shards(&dir, 4, "a", &[]);
    let half = shards(&dir, 2, "b", &[]);
    let threshold = shards(&dir, 4, "t", &["--threshold", "0.25"]);
    let five = shards(&dir, 4, "c", &["--num-classes", "5"]);
    let (p0, p1, p2, p3) = (&p[0], &p[1], &p[2], &p[3]);
    let copy = dir.join("copy-of-0.json");
    std::fs::copy(p0, &copy).unwrap();
    refused(&[p0, p1, &copy, p2, p3], &[&copy, p0], "is shard 0/4, and so is");
    refused(&[p2, p0], &[], "missing shards 1, 3 (of 4, numbered 0 to 3)");
    refused(&[p0, p1, p2], &[], "missing shard 3 (of 4");
    refused(&[p0, &half[1]], &[&half[1], p0], "different shard counts");
    refused(&[p0, &threshold[1]], &[&threshold[1], p0], "other eval options than");
    refused(&[p0, &threshold[1]], &[], "--threshold 0.5 vs 0.25");
    refused(&[p0, &five[1]], &[&five[1]], "--num-classes 4 vs 5");
    // Another listing: one more pair in the folders.
    write_gray_png(&dir.join("gt/zz.png"), 3, 3, &[0; 9], 8, false).unwrap();
    write_gray_png(&dir.join("pred/zz.png"), 3, 3, &[0; 9], 8, false).unwrap();
    let other = shards(&dir, 4, "d", &[]);
    refused(&[p0, &other[1]], &[&other[1], p0], "cut from another list of files");
    // Not a partial: eval's report, a PNG, a folder, no file.
    let report = dir.join("report.json");
    eval(&dir, &["--out", report.to_str().unwrap()]);
    refused(&[&report], &[&report], "not a segloss eval partial");
    let png = dir.join("gt/zz.png");
    refused(&[&png], &[&png], "not JSON");
    refused(&[&dir], &[&dir], "not a regular file");
    let gone = dir.join("gone.json");
    refused(&[&gone], &[&gone], "No such file");
    // Another format version (version 1: before the surface metrics).
    let v1 = dir.join("v1.json");
    let body = std::fs::read_to_string(p0).unwrap();
    assert!(body.contains("\"version\":2"));
    std::fs::write(&v1, body.replacen("\"version\":2", "\"version\":1", 1)).unwrap();
    refused(&[&v1], &[&v1], "partial format version 1");
    // The output must not overwrite an input.
    let out = merge(&[p0], &["--out", p0.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("would be overwritten"), "{}", text(&out));
}

#[test]
fn eval_refuses_bad_shard_flags_naming_them() {
    let dir = temp_dir("flags");
    let part = dir.join("p.json");
    let part = part.to_str().unwrap();
    for (args, why) in [
        (vec!["--shard", "4/4", "--partial", part], "--shard '4/4': shard K = 4 is not below N = 4"),
        (vec!["--shard", "0/0", "--partial", part], "--shard '0/0': the number of shards N = 0"),
        (vec!["--shard", "2", "--partial", part], "--shard '2': expected K/N"),
        (vec!["--shard", "1/2/3", "--partial", part], "--shard '1/2/3': expected K/N"),
        (vec!["--shard", "-1/2", "--partial", part], "--shard '-1/2': expected K/N"),
        (vec!["--shard", "0/2"], "--shard K/N needs --partial"),
        (vec!["--partial", part], "--partial needs --shard"),
        (vec!["--shard", "0/2", "--partial", "p.csv"], "--partial p.csv: must be a file name ending in .json"),
        (vec!["--shard", "0/2", "--partial", part, "--out", "r.json"], "--out with --shard"),
    ] {
        let out = eval(&dir, &args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out));
        assert!(String::from_utf8_lossy(&out.stderr).contains(why), "{args:?}: {}", text(&out));
    }
}

#[test]
fn malformed_partials_are_one_line_errors_never_panics() {
    let dir = temp_dir("malformed");
    dataset(&dir);
    let part = shards(&dir, 1, "m", &[]).remove(0);
    let good = std::fs::read_to_string(&part).unwrap();
    let bad = dir.join("bad.json");
    let run = |body: &str| -> Output {
        std::fs::write(&bad, body).unwrap();
        merge(&[&bad], &[])
    };
    // Edits with a known reason.
    let v: serde_json::Value = serde_json::from_str(&good).unwrap();
    let edit = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut v = v.clone();
        f(&mut v);
        v.to_string()
    };
    for (body, why) in [
        (
            edit(&|v| v["options"]["num_classes"] = 1_000_000_000_000u64.into()),
            "options.num_classes is 1000000000000, not a whole number in 2..=2048",
        ),
        (edit(&|v| v["shards"] = (1u64 << 40).into()), "shards is 1099511627776, not a whole number in 1..=65536"),
        (edit(&|v| v["shard"] = 1.into()), "shard is 1, not a whole number in 0..=0"),
        (edit(&|v| v["images"][0]["confusion"][0] = 4.into()), "a confusion class is 4, not a whole number in 0..=3"),
        (edit(&|v| v["images"][0]["confusion"][2] = (1u64 << 41).into()), "more than --max-pixels"),
        (edit(&|v| v["images"][0]["confusion"][2] = (-1).into()), "a confusion count is -1"),
        (edit(&|v| v["images"][0]["index"] = 99.into()), "an image's pair 99 is outside this shard's pairs 0..12"),
        (edit(&|v| drop(v["images"].as_array_mut().unwrap().remove(3))), "pair 3 is missing"),
        (edit(&|v| v["totals"]["images"] = 3.into()), "its totals do not match its images"),
        (edit(&|v| v["totals"]["iou"][0] = "1".into()), "its totals do not match its images"),
        (edit(&|v| v["totals"]["dice"] = serde_json::json!(["0"])), "totals.dice has 1 sums where 4 were expected"),
        (edit(&|v| v["totals"]["recall"][1] = "f".repeat(600).into()), "is not an exact sum"),
        (edit(&|v| v["images"][1]["losses"] = serde_json::json!(["7ff0000000000000", "0"])), "a loss is not finite"),
        (edit(&|v| v["format"] = "something else".into()), "not a segloss eval partial"),
        (
            edit(&|v| v["images"][0]["surface"] = serde_json::json!([])),
            "surface metrics in a partial without --surface",
        ),
        (edit(&|v| v["totals"]["surface"] = serde_json::json!({})), "totals.surface in a partial without --surface"),
        ("[".repeat(100_000), "not JSON"),
        (String::new(), "not JSON"),
    ] {
        let out = run(&body);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{why}: {}", text(&out));
        assert!(
            stderr.starts_with(&format!("segloss: {}: ", bad.display())) && stderr.contains(why),
            "{why}: {stderr}"
        );
    }
    // Every truncation and every number replaced by others: an error or a report, no panic.
    let numbers: Vec<(usize, usize)> = {
        let b = good.as_bytes();
        let mut spans = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if b[i].is_ascii_digit() && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'.')) {
                let start = i;
                while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
                    i += 1;
                }
                spans.push((start, i));
            }
            i += 1;
        }
        spans
    };
    let mut bodies: Vec<String> = (0..good.len()).step_by(97).map(|n| good[..n].to_string()).collect();
    for (k, &(a, b)) in numbers.iter().enumerate().step_by(3) {
        let with = ["0", "18446744073709551616", "-7", "1e308", "4", "\"x\"", "null"][k % 7];
        bodies.push(format!("{}{}{}", &good[..a], with, &good[b..]));
    }
    assert!(bodies.len() > 60, "{} mutations", bodies.len());
    for body in &bodies {
        let out = run(body);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(matches!(out.status.code(), Some(0 | 1)) && !stderr.contains("panicked"), "{}\n{body}", text(&out));
        if !out.status.success() && out.stdout.is_empty() {
            assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        }
    }
}
