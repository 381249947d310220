//! `segloss eval --surface` against MONAI 1.6.1: the datasets under tests/fixtures/surface/
//! (2-D with 4 classes and odd sizes, a class absent from the prediction, from the truth and
//! from both; the same with anisotropic spacing; 3-D `.npy` volumes with spacing) were scored
//! by MONAI's `compute_hausdorff_distance` (plain and percentile=95),
//! `compute_average_surface_distance(symmetric=True)` and `compute_surface_dice` in
//! `scripts/surface_fixtures.py`; the expected numbers are in the JSON files beside them.
//!
//! Tolerance: MONAI returns float32 (its distances are cast to f32 before the percentile,
//! the mean and the threshold), so its values carry an f32 rounding error of up to half an
//! ulp, about 6e-8 relative, plus that of its f32 mean: each value is compared within
//! max(1e-6, 2^-21·|expected|) (1e-6 for the distances below 8 here, a little more above).
//! The f64 reference path (`--surface-engine cpu`) and the default engine (the GPU engine in
//! f32 where one is found, lavapipe in CI) are both held to it: the f32 squared distances of
//! these small images are exact for unit spacing and within 2^-24 relative otherwise.
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn segloss() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_segloss"));
    c.env("XDG_RUNTIME_DIR", std::env::var("XDG_RUNTIME_DIR").unwrap_or_else(|_| "/tmp".into()));
    c
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/surface")
}

fn out_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("segloss-surface-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run_eval(name: &str, engine: &str, out: &Path, extra: &[&str]) -> Value {
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join(format!("{name}.json"))).unwrap()).unwrap();
    let c = expected["num_classes"].as_u64().unwrap().to_string();
    let tol = expected["nsd_tolerance"].as_f64().unwrap().to_string();
    let data = fixtures().join(name);
    let mut cmd = segloss();
    cmd.args(["eval", "--pred"])
        .arg(data.join("pred"))
        .arg("--gt")
        .arg(data.join("gt"))
        .args(["--num-classes", &c, "--surface", "--nsd-tolerance", &tol, "--surface-engine", engine, "--out"])
        .arg(out)
        .args(extra);
    if let Some(s) = expected["spacing"].as_array() {
        let s: Vec<String> = s.iter().map(|v| v.as_f64().unwrap().to_string()).collect();
        cmd.args(["--spacing", &s.join(",")]);
    }
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{}\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    expected
}

fn close(got: &Value, want: &Value, what: &str) {
    match (got.as_f64(), want.as_f64()) {
        (None, None) => assert!(got.is_null() && want.is_null(), "{what}: {got} vs {want}"),
        (Some(g), Some(w)) => {
            let tol = (2f64.powi(-21) * w.abs()).max(1e-6);
            assert!((g - w).abs() <= tol, "{what}: segloss {g} vs MONAI {w} (tolerance {tol:e})");
        }
        _ => panic!("{what}: segloss {got} vs MONAI {want} (null where the other is a number)"),
    }
}

const METRICS: [&str; 4] = ["hd", "hd95", "assd", "nsd"];

fn check(name: &str, engine: &str) {
    let dir = out_dir(&format!("{name}-{engine}"));
    let out = dir.join("report.json");
    let expected = run_eval(name, engine, &out, &[]);
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let images = report["images"].as_array().unwrap();
    let want = expected["images"].as_object().unwrap();
    assert_eq!(images.len(), want.len());
    let c = expected["num_classes"].as_u64().unwrap() as usize;
    let (mut sums, mut counts) = (vec![[0.0f64; 4]; c], vec![[0u32; 4]; c]);
    for image in images {
        let stem = image["image"].as_str().unwrap();
        for (i, m) in METRICS.iter().enumerate() {
            let got = image["metrics"][m].as_array().unwrap_or_else(|| panic!("{stem}: no {m}"));
            let exp = want[stem]["metrics"][m].as_array().unwrap();
            assert_eq!(got.len(), c);
            for k in 0..c {
                close(&got[k], &exp[k], &format!("{name} ({engine}) {stem} {m}[{k}]"));
                if let Some(v) = exp[k].as_f64() {
                    sums[k][i] += v;
                    counts[k][i] += 1;
                }
            }
        }
    }
    // The dataset row: means over the images where each is defined (MONAI's values averaged
    // here), null where none is.
    let mean = &report["mean_over_images"];
    for (i, m) in METRICS.iter().enumerate() {
        for k in 0..c {
            let want = if counts[k][i] > 0 { Value::from(sums[k][i] / counts[k][i] as f64) } else { Value::Null };
            close(&mean[m][k], &want, &format!("{name} ({engine}) mean {m}[{k}]"));
        }
    }
    assert!(report["dataset_pooled"].get("hd").is_none(), "surface metrics have no pooled row");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn two_d_matches_monai_on_the_f64_reference() {
    check("two_d", "cpu");
}

#[test]
fn anisotropic_spacing_matches_monai_on_the_f64_reference() {
    check("two_d_aniso", "cpu");
}

#[test]
fn three_d_volumes_match_monai_on_the_f64_reference() {
    check("three_d", "cpu");
}

#[test]
fn the_default_engine_matches_monai_too() {
    for name in ["two_d", "two_d_aniso", "three_d"] {
        check(name, "auto");
    }
}

#[test]
fn the_fixtures_hold_every_null_case_monai_has() {
    // What MONAI returned, kept beside the numbers: a class absent from one side gives +inf
    // (hd, assd), NaN (hd95) and a surface Dice of 0; absent from both, NaN everywhere.
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(fixtures().join("two_d.json")).unwrap()).unwrap();
    let img = |s: &str| &doc["images"][s];
    // img01: class 3 absent from the prediction; img02: class 2 absent from the truth.
    for (stem, k) in [("img01", 3), ("img02", 2)] {
        assert_eq!(img(stem)["monai_raw"]["hd"][k], "inf");
        assert_eq!(img(stem)["monai_raw"]["assd"][k], "inf");
        assert_eq!(img(stem)["monai_raw"]["hd95"][k], "nan");
        assert_eq!(img(stem)["metrics"]["nsd"][k], 0.0);
    }
    // img03: class 3 absent from both.
    for m in METRICS {
        assert_eq!(img("img03")["monai_raw"][m][3], "nan");
    }
}

#[test]
fn csv_has_the_surface_columns_with_empty_cells_for_null() {
    let dir = out_dir("csv");
    let out = dir.join("report.csv");
    run_eval("two_d", "cpu", &out, &[]);
    let text = std::fs::read_to_string(&out).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    for m in METRICS {
        for k in 0..4 {
            assert!(header.contains(&format!("{m}_{k}").as_str()), "{m}_{k} missing: {header:?}");
        }
    }
    let at = header.iter().position(|h| *h == "hd_3").unwrap();
    let row01: Vec<&str> = text.lines().find(|l| l.starts_with("img01,")).unwrap().split(',').collect();
    assert_eq!(row01[at], "", "class 3 absent from img01's prediction: an empty hd_3");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn surface_flags_are_checked() {
    let data = fixtures().join("two_d");
    let eval = |extra: &[&str]| {
        let mut cmd = segloss();
        cmd.args(["eval", "--pred"]).arg(data.join("pred")).arg("--gt").arg(data.join("gt"));
        cmd.args(["--num-classes", "4"]).args(extra).output().unwrap()
    };
    for (args, why) in [
        (vec!["--spacing", "1,1"], "need --surface"),
        (vec!["--surface", "--spacing", "1,0"], "--spacing"),
        (vec!["--surface", "--spacing", "1,2,3,4"], "--spacing"),
        (vec!["--surface", "--nsd-tolerance", "-1"], "--nsd-tolerance"),
        (vec!["--surface", "--surface-engine", "tpu"], "--surface-engine"),
    ] {
        let o = eval(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && err.contains(why), "{args:?}: {err}");
    }
    // 3 spacings for 2-D images: each pair is skipped with the reason (exit code 1).
    let o = eval(&["--surface", "--surface-engine", "cpu", "--spacing", "1,1,1"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stdout).contains("--spacing has 3 values but the image is 2-D"));
}

#[test]
fn three_d_volumes_are_scored_without_surface_and_shapes_must_match() {
    use segloss::io::npy::{Npy, NpyData};
    let dir = out_dir("shapes");
    for side in ["pred", "gt"] {
        std::fs::create_dir_all(dir.join(side)).unwrap();
    }
    let write = |path: PathBuf, shape: Vec<usize>, values: Vec<i64>| {
        std::fs::write(path, Npy { shape, data: NpyData::I64(values) }.to_bytes()).unwrap();
    };
    // A 2×2×3 volume: truth class 1 in the first slice, the prediction in the first row of
    // each slice: 3 true positives, 3 false positives, 3 false negatives, 3 true negatives.
    let gt: Vec<i64> = (0..12).map(|i| (i < 6) as i64).collect();
    let pred: Vec<i64> = (0..12).map(|i| (i % 6 < 3) as i64).collect();
    write(dir.join("gt/vol.npy"), vec![2, 2, 3], gt.clone());
    write(dir.join("pred/vol.npy"), vec![2, 2, 3], pred);
    // The same values as a 2×3×2 volume, and as a 2-D map: shapes differ, skipped.
    write(dir.join("gt/other.npy"), vec![2, 2, 3], gt.clone());
    write(dir.join("pred/other.npy"), vec![2, 3, 2], gt.clone());
    write(dir.join("gt/flat.npy"), vec![2, 2, 3], gt.clone());
    write(dir.join("pred/flat.npy"), vec![4, 3], gt);
    let out = dir.join("r.json");
    let o = segloss()
        .args(["eval", "--pred"])
        .arg(dir.join("pred"))
        .arg("--gt")
        .arg(dir.join("gt"))
        .args(["--num-classes", "2", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("prediction is 2x3x2 but the ground truth is 2x2x3"), "{stdout}");
    assert!(stdout.contains("prediction is 4x3 but the ground truth is 2x2x3"), "{stdout}");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(report["images"].as_array().unwrap().len(), 1);
    assert_eq!(report["confusion"], serde_json::json!([[3, 3], [3, 3]]));
    assert_eq!(report["images"][0]["metrics"]["pixels"], 12);
    let _ = std::fs::remove_dir_all(&dir);
}
