//! Hostile input to the command-line tool (issue 14): one regression test per defect class.
//! Every case ends in a correct result or a one-line error naming the file or flag, exit 1 —
//! no panic, no abort, no hang, no exit 0 with a wrong or NaN result.
#[path = "common/files.rs"]
mod files;
use files::*;
use std::path::Path;
use std::process::Stdio;

/// A binary pair: logits [2,1,3,4] and 0/1 targets.
fn binary_pair(dir: &Path) -> (String, String) {
    let (l, t) = (dir.join("l.npy"), dir.join("t.npy"));
    npy_f32(&l, &[2, 1, 3, 4], (0..24).map(|i| (i as f32 - 11.5) / 4.0).collect());
    npy_f32(&t, &[2, 1, 3, 4], (0..24).map(|i| (i % 3 == 0) as u8 as f32).collect());
    (l.display().to_string(), t.display().to_string())
}

fn loss(args: &[&str]) -> (Option<i32>, String, String) {
    run_within(segloss().arg("loss").args(args), 120)
}

fn json_loss(stdout: &str) -> f64 {
    let v: serde_json::Value = serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    v["loss"].as_f64().unwrap_or_else(|| panic!("no finite loss in {stdout}"))
}

// ---- 1. WGPU_ADAPTER_NAME naming no adapter

#[test]
fn item01_adapter_name_matching_nothing_is_an_error_listing_adapters() {
    let dir = temp_dir("adapter");
    let (l, t) = binary_pair(&dir);
    let (code, _, err) = run_within(segloss().arg("info").env("WGPU_ADAPTER_NAME", "no-such-adapter-xyz"), 120);
    assert_error(code, &err, &["no-such-adapter-xyz", "found:"]);
    let (code, _, err) = run_within(
        segloss()
            .args(["loss", "--backend", "gpu", "--logits", &l, "--targets", &t, "dice"])
            .env("WGPU_ADAPTER_NAME", "no-such-adapter-xyz"),
        120,
    );
    assert_error(code, &err, &["no-such-adapter-xyz"]);
    let (code, _, err) =
        run_within(segloss().args(["demo", "--size", "1", "8", "8"]).env("WGPU_ADAPTER_NAME", "zz-none"), 120);
    assert_error(code, &err, &["zz-none"]);
}

// ---- 2 and 5. Sizes from flags: classes and threads

fn eval_dirs(name: &str) -> (std::path::PathBuf, String, String) {
    let d = temp_dir(name);
    std::fs::create_dir_all(d.join("p")).unwrap();
    std::fs::create_dir_all(d.join("g")).unwrap();
    let m: Vec<u8> = (0..20).map(|i| (i % 3 == 0) as u8).collect();
    npy_u8(&d.join("p/a.npy"), &[4, 5], m.clone());
    npy_u8(&d.join("g/a.npy"), &[4, 5], m);
    let (p, g) = (d.join("p").display().to_string(), d.join("g").display().to_string());
    (d, p, g)
}

#[test]
fn item02_item05_huge_class_and_thread_counts_are_flag_errors() {
    let (_d, p, g) = eval_dirs("flags");
    for (flag, value) in [
        ("--num-classes", "4611686018427387904"),
        ("--num-classes", "100000"),
        ("--num-classes", "1"),
        ("--num-classes", "-3"),
        ("--threads", "4611686018427387904"),
        ("--threads", "100000000"),
        ("--threads", "0"),
        ("--max-pixels", "0"),
        ("--threshold", "NaN"),
        ("--threshold", "inf"),
        ("--threshold", "-5"),
        ("--threshold", "7"),
        ("--ignore-index", "x"),
    ] {
        let (code, _, err) = run_within(segloss().args(["eval", "--pred", &p, "--gt", &g, flag, value]), 60);
        assert_error(code, &err, &[flag]);
    }
    // The largest accepted values work, in bounded memory.
    let (code, out, err) = run_within(
        segloss()
            .args(["eval", "--pred", &p, "--gt", &g, "--num-classes", "2048", "--threads", "256"])
            .env("SEGLOSS_REPORT_MEMORY", "1"),
        120,
    );
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(peak_kib(&out) < 256 * 1024, "{out}");
}

fn peak_kib(stdout: &str) -> u64 {
    let line = stdout.lines().find(|l| l.starts_with("peak resident memory")).unwrap_or_else(|| panic!("{stdout}"));
    line.split_whitespace().nth(3).unwrap().parse().unwrap()
}

// ---- 3. Closed pipes and full disks

#[test]
fn item03_closed_pipe_ends_quietly_and_full_disk_is_one_line() {
    let (_d, p, g) = eval_dirs("pipe");
    let commands: Vec<Vec<String>> = vec![
        vec!["demo".into(), "--size".into(), "1".into(), "16".into(), "16".into()],
        vec!["info".into()],
        vec!["eval".into(), "--pred".into(), p.clone(), "--gt".into(), g.clone()],
        vec!["help".into()],
    ];
    for args in &commands {
        // A reader that has gone away: the read end is closed before the command writes.
        let mut child = segloss().args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
        // A full disk.
        if Path::new("/dev/full").exists() {
            let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
            let out = segloss().args(args).stdout(full).output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_error(out.status.code(), &err, &["writing to standard output"]);
        }
    }
}

// ---- 4. Declared image sizes against the pixel budget and the pair, before decoding

#[test]
fn item04_lying_png_headers_and_zlib_bombs_are_refused_before_decoding() {
    let d = temp_dir("bomb");
    for sub in ["p", "g"] {
        std::fs::create_dir_all(d.join(sub)).unwrap();
        // 69 bytes claiming 100000 x 100000.
        std::fs::write(d.join(sub).join("liar.png"), png_with(100_000, 100_000, 8, &[0x78, 0x01])).unwrap();
        // A real bomb: about 60 KB inflating to 9000 x 1000 (over the default budget).
        std::fs::write(d.join(sub).join("bomb.png"), png_bomb(9_000, 1_000)).unwrap();
        // A pair that is fine.
        npy_u8(&d.join(sub).join("ok.npy"), &[4, 5], (0..20).map(|i| (i % 2) as u8).collect());
    }
    // A prediction whose size differs from its ground truth: refused from the headers.
    std::fs::write(d.join("p/mismatch.png"), png_bomb(2000, 2000)).unwrap();
    std::fs::write(d.join("g/mismatch.png"), png_with(2, 2, 8, &zlib_zeros(6))).unwrap();
    let (p, g) = (d.join("p").display().to_string(), d.join("g").display().to_string());
    let (code, out, err) =
        run_within(segloss().args(["eval", "--pred", &p, "--gt", &g]).env("SEGLOSS_REPORT_MEMORY", "1"), 120);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(out.contains("1 images scored, 3 skipped"), "{out}");
    assert!(out.contains("100000x100000 = 10000000000 values, above the pixel budget"), "{out}");
    assert!(out.contains("1000x9000 = 9000000 values, above the pixel budget of 8388608"), "{out}");
    assert!(out.contains("prediction is 2000x2000 but the ground truth is 2x2"), "{out}");
    assert!(peak_kib(&out) < 256 * 1024, "{out}");
    // The flag raises the budget: the bomb is then a real (all-zero) image and is scored.
    std::fs::remove_file(d.join("p/liar.png")).unwrap();
    std::fs::remove_file(d.join("g/liar.png")).unwrap();
    std::fs::remove_file(d.join("p/mismatch.png")).unwrap();
    std::fs::remove_file(d.join("g/mismatch.png")).unwrap();
    let (code, out, err) = run_within(
        segloss().args(["eval", "--pred", &p, "--gt", &g, "--max-pixels", "10000000", "--threads", "1"]),
        120,
    );
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("2 images scored, 0 skipped"), "{out}");
    // And lowers it.
    let (code, out, _) = run_within(segloss().args(["eval", "--pred", &p, "--gt", &g, "--max-pixels", "10"]), 60);
    assert!(code == Some(1) && out.contains("above the pixel budget of 10"), "{out}");
}

// ---- 6 and 7. Special files: devices, FIFOs, symlinks to them

#[cfg(unix)]
#[test]
fn item06_item07_devices_and_fifos_are_not_read() {
    let (d, p, g) = eval_dirs("special");
    std::os::unix::fs::symlink("/dev/zero", d.join("p/zero.npy")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", d.join("g/zero.npy")).unwrap();
    let fifo = d.join("p/fifo.png");
    let made = Command::new("mkfifo").arg(&fifo).status().map(|s| s.success()).unwrap_or(false);
    let (code, out, err) =
        run_within(segloss().args(["eval", "--pred", &p, "--gt", &g]).env("SEGLOSS_REPORT_MEMORY", "1"), 60);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(out.contains("zero.npy: a device, not a regular file"), "{out}");
    if made {
        assert!(out.contains("fifo.png: a FIFO, not a regular file"), "{out}");
    }
    assert!(peak_kib(&out) < 256 * 1024, "{out}");
    // `loss` reads neither.
    let (l, _) = binary_pair(&d);
    let zero = d.join("p/zero.npy").display().to_string();
    let (code, _, err) = loss(&["--logits", &zero, "--targets", &zero, "dice"]);
    assert_error(code, &err, &["zero.npy: not a regular file (a device)"]);
    if made {
        let f = fifo.display().to_string();
        let (code, _, err) = loss(&["--logits", &l, "--targets", &f, "dice"]);
        assert_error(code, &err, &["fifo.png: not a regular file (a FIFO)"]);
        let (code, _, err) = loss(&["--logits", &l, "--targets", &l, "--spec", &f]);
        assert_error(code, &err, &["fifo.png", "a FIFO"]);
    }
}

use std::process::Command;

// ---- 8. Target shapes

#[test]
fn item08_targets_of_another_shape_with_the_same_size_are_refused() {
    let d = temp_dir("shapes");
    let l = d.join("l.npy");
    npy_f32(&l, &[2, 1, 3, 4], vec![0.3; 24]);
    let l3 = d.join("l3.npy");
    npy_f32(&l3, &[2, 3, 3, 4], vec![0.3; 72]);
    let cases: Vec<(&Path, &str, Vec<usize>, &str)> = vec![
        (&l, "swapped.npy", vec![2, 1, 4, 3], "dice"),
        (&l, "flat.npy", vec![2, 12], "dice"),
        (&l, "five.npy", vec![2, 1, 3, 4, 1], "dice"),
        (&l, "images.npy", vec![1, 2, 3, 4], "dice"),
        (&l3, "map_swapped.npy", vec![2, 4, 3], "cross_entropy"),
        (&l3, "map_five.npy", vec![2, 1, 1, 3, 4], "cross_entropy"),
        (&l3, "onehot_swapped.npy", vec![2, 3, 4, 3], "smp.DiceLoss"),
    ];
    for (logits, name, shape, loss_name) in cases {
        let t = d.join(name);
        let n: usize = shape.iter().product();
        if loss_name == "cross_entropy" {
            npy_i64(&t, &shape, vec![1; n]);
        } else {
            npy_f32(&t, &shape, vec![1.0; n]);
        }
        let mut args = vec![
            "--logits".to_string(),
            logits.display().to_string(),
            "--targets".into(),
            t.display().to_string(),
            loss_name.into(),
        ];
        if loss_name == "smp.DiceLoss" {
            args.push("mode=multilabel".into());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, out, err) = loss(&args);
        assert_error(code, &err, &[name, "do not fit"]);
        assert!(out.is_empty(), "{out}");
    }
    // The documented equivalences still work: [N,H,W] ≡ [N,1,H,W].
    let t = d.join("nhw.npy");
    npy_f32(&t, &[2, 3, 4], vec![1.0; 24]);
    let t4 = d.join("n1hw.npy");
    npy_f32(&t4, &[2, 1, 3, 4], vec![1.0; 24]);
    let a = loss(&["--json", "--logits", &l.display().to_string(), "--targets", &t.display().to_string(), "dice"]);
    let b = loss(&["--json", "--logits", &l.display().to_string(), "--targets", &t4.display().to_string(), "dice"]);
    assert_eq!(a.0, Some(0), "{}", a.2);
    assert_eq!(json_loss(&a.1), json_loss(&b.1));
}

// ---- 9. MONAI one-hot of a label >= C

#[test]
fn item09_monai_to_onehot_label_not_below_c_is_an_error() {
    let d = temp_dir("onehot");
    let l = d.join("l.npy");
    npy_f32(&l, &[1, 3, 2, 2], vec![0.1; 12]);
    for (bad, shown) in [(3i64, "label 3 "), (4294967294, "label 4294967294 ")] {
        let t = d.join("t.npy");
        npy_i64(&t, &[1, 2, 2], vec![0, 1, 2, bad]);
        for name in ["monai.DiceLoss", "monai.DiceCELoss", "monai.TverskyLoss"] {
            let (code, _, err) = loss(&[
                "--logits",
                &l.display().to_string(),
                "--targets",
                &t.display().to_string(),
                name,
                "to_onehot_y=true",
                "softmax=true",
            ]);
            assert_error(code, &err, &["t.npy", shown, "flat index 3"]);
        }
    }
}

// ---- 10. Unknown keys in a spec term

#[test]
fn item10_unknown_spec_keys_are_errors_listing_the_accepted_ones() {
    let d = temp_dir("spec");
    let (l, t) = binary_pair(&d);
    for bad in [r#"[{"loss":"dice","weigth":2}]"#, r#"[{"loss":"dice","paramz":{"smooth":0}}]"#, r#"[5]"#] {
        let spec = d.join("spec.json");
        std::fs::write(&spec, bad).unwrap();
        let (code, _, err) = loss(&["--logits", &l, "--targets", &t, "--spec", &spec.display().to_string()]);
        assert_error(code, &err, &["spec.json", "term 0"]);
        if !bad.contains('5') {
            assert!(err.contains("accepted: loss, params, weight"), "{err}");
        }
    }
}

// ---- 11. Finite but extreme values and parameters

#[test]
fn item11_extreme_values_give_a_finite_result_or_a_named_error() {
    let d = temp_dir("extreme");
    let (l, t) = binary_pair(&d);
    let huge = d.join("huge.npy");
    npy_f32(&huge, &[2, 1, 3, 4], (0..24).map(|i| if i % 2 == 0 { 3e38 } else { -3e38 }).collect());
    let h = huge.display().to_string();
    for name in ["focal", "bce", "combo", "bce_dice", "smp.FocalLoss"] {
        let mut args = vec!["--logits", &h, "--targets", &t, name];
        if name.starts_with("smp") {
            args.push("mode=binary");
        }
        let (code, out, err) = loss(&args);
        assert_error(code, &err, &["huge.npy", "outside the accepted range"]);
        assert!(out.is_empty());
    }
    for (name, kw) in [("bce", "pos_weight=1e38"), ("focal", "gamma=1e300"), ("dice", "smooth=-1e20")] {
        let (code, _, err) = loss(&["--logits", &l, "--targets", &t, name, kw]);
        let key = kw.split('=').next().unwrap();
        assert_error(code, &err, &[key, "accepted range"]);
    }
    let l3 = d.join("l3.npy");
    npy_f32(&l3, &[1, 3, 2, 2], vec![0.1; 12]);
    let t3 = d.join("t3.npy");
    npy_i64(&t3, &[1, 2, 2], vec![0, 1, 2, 1]);
    let (code, _, err) = loss(&[
        "--logits",
        &l3.display().to_string(),
        "--targets",
        &t3.display().to_string(),
        "monai.DiceCELoss",
        "to_onehot_y=true",
        "softmax=true",
        "weight=[1e308,1,1]",
    ]);
    assert_error(code, &err, &["weight", "accepted range"]);
    // At the edge of the accepted range the GPU agrees with the float64 reference.
    let edge = d.join("edge.npy");
    npy_f32(&edge, &[2, 1, 3, 4], (0..24).map(|i| if i % 3 == 0 { 1e12 } else { -1e12 }).collect());
    let e = edge.display().to_string();
    for name in ["focal", "bce", "combo", "bce_dice"] {
        let gpu = loss(&["--json", "--backend", "auto", "--logits", &e, "--targets", &t, name]);
        let cpu = loss(&["--json", "--backend", "cpu", "--logits", &e, "--targets", &t, name]);
        assert_eq!(gpu.0, Some(0), "{}", gpu.2);
        let (a, b) = (json_loss(&gpu.1), json_loss(&cpu.1));
        assert!(a.is_finite() && (a - b).abs() <= 1e-5 * b.abs().max(1.0), "{name}: {a} vs {b}");
    }
    // float64 values outside the f32 range are named as such, not as "inf".
    let big = d.join("big.npy");
    npy_f64(&big, &[2, 1, 3, 4], (0..24).map(|i| if i == 5 { 1e39 } else { 0.0 }).collect());
    let (code, _, err) = loss(&["--logits", &big.display().to_string(), "--targets", &t, "dice"]);
    assert_error(code, &err, &["big.npy", "1e39", "flat index 5", "outside the f32 range"]);
}

// ---- 12. Focal alpha

#[test]
fn item12_focal_alpha_none_means_no_alpha_and_out_of_range_is_an_error() {
    let d = temp_dir("alpha");
    let (l, t) = binary_pair(&d);
    let value = |kw: &str| {
        let (code, out, err) = loss(&["--json", "--backend", "cpu", "--logits", &l, "--targets", &t, "focal", kw]);
        assert_eq!(code, Some(0), "{err}");
        json_loss(&out)
    };
    // α = 0.5 weighs both classes by 0.5: exactly half of "no α".
    let (none, half) = (value("alpha=None"), value("alpha=0.5"));
    assert!((none - 2.0 * half).abs() <= 1e-12 * none, "{none} vs {half}");
    assert!((value("alpha=null") - none).abs() <= 1e-15);
    assert!((value("gamma=2") - value("alpha=0.8")).abs() <= 1e-15, "the default is 0.8");
    for bad in ["alpha=-0.5", "alpha=2", "alpha=-1"] {
        let (code, _, err) = loss(&["--logits", &l, "--targets", &t, "focal", bad]);
        assert_error(code, &err, &["alpha", "[0, 1]"]);
    }
}

// ---- 13. eval outputs

#[test]
fn item13_eval_outputs_are_well_formed() {
    let (d, p, g) = eval_dirs("outputs");
    // Names that break hand-made CSV and JSON, hard and soft predictions together.
    let m: Vec<u8> = (0..20).map(|i| (i % 3 == 0) as u8).collect();
    for name in ["a,b \"q\"", "line\nbreak", "ctl\u{1}x"] {
        npy_u8(&d.join("g").join(format!("{name}.npy")), &[4, 5], m.clone());
        npy_f32(&d.join("p").join(format!("{name}.npy")), &[4, 5], m.iter().map(|&v| v as f32 * 0.8 + 0.1).collect());
    }
    // Ambiguous stems, a file named ".png", a name that is not UTF-8: listed as skipped.
    npy_u8(&d.join("g/x.npy"), &[4, 5], m.clone());
    npy_u8(&d.join("p/x.npy"), &[4, 5], m.clone());
    std::fs::write(d.join("p/x.png"), png_with(5, 4, 8, &zlib_zeros(24))).unwrap();
    std::fs::write(d.join("p/.png"), b"").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        std::fs::write(d.join("p").join(std::ffi::OsStr::from_bytes(b"bad\xff.npy")), b"").unwrap();
    }
    let csv_path = d.join("scores.CSV");
    let (code, out, err) =
        run_within(segloss().args(["eval", "--pred", &p, "--gt", &g, "--out", &csv_path.display().to_string()]), 120);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(out.contains("4 images scored"), "{out}");
    for needle in
        ["p/x.npy: ambiguous", "p/x.png: ambiguous", "g/x.npy: no prediction", "p/.png: no name before the extension"]
    {
        assert!(out.contains(needle), "{needle}: {out}");
    }
    #[cfg(unix)]
    assert!(out.contains("not valid UTF-8"), "{out}");
    let mut reader = csv::Reader::from_path(&csv_path).unwrap();
    let header = reader.headers().unwrap().clone();
    assert_eq!(header.len(), 4 + 4 * 2 + 2);
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 4 + 2);
    assert!(rows.iter().all(|r| r.len() == header.len()));
    let names: Vec<&str> = rows.iter().map(|r| r.get(0).unwrap()).collect();
    for name in ["a,b \"q\"", "line\nbreak", "ctl\u{1}x", "a", "DATASET(pooled)"] {
        assert!(names.contains(&name), "{name:?} not in {names:?}");
    }
    let json_path = d.join("scores.json");
    let (code, out, _) =
        run_within(segloss().args(["eval", "--pred", &p, "--gt", &g, "--out", &json_path.display().to_string()]), 120);
    assert_eq!(code, Some(1), "{out}");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    assert_eq!(v["images"].as_array().unwrap().len(), 4);
    assert!(v["images"].as_array().unwrap().iter().any(|i| i["image"] == "ctl\u{1}x"));
    assert!(v["skipped"].as_array().unwrap().len() >= 4);
    // Unusable --out values are errors before any work.
    for bad in ["s.txt", "noext"] {
        let (code, _, err) = run_within(
            segloss().args(["eval", "--pred", &p, "--gt", &g, "--out", &d.join(bad).display().to_string()]),
            60,
        );
        assert_error(code, &err, &["--out", bad]);
    }
    std::fs::create_dir_all(d.join("dir.csv")).unwrap();
    let (code, _, err) = run_within(
        segloss().args(["eval", "--pred", &p, "--gt", &g, "--out", &d.join("dir.csv").display().to_string()]),
        60,
    );
    assert_error(code, &err, &["--out", "folder"]);
    // No pairs at all: an error, not a perfect score.
    let empty = d.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let (code, out, err) = run_within(segloss().args(["eval", "--pred", &empty.display().to_string(), "--gt", &g]), 60);
    assert_error(code, &err, &["no image pairs"]);
    assert!(!out.contains("mean IoU"), "{out}");
}

// ---- 14. I/O errors name the path and the operation

#[test]
fn item14_io_errors_name_the_path_and_the_operation() {
    let (d, p, g) = eval_dirs("ioerr");
    let (code, _, err) =
        run_within(segloss().args(["eval", "--pred", &p, "--gt", &g, "--out", "/missing-dir-xyz/x.csv"]), 60);
    assert_error(code, &err, &["/missing-dir-xyz/x.csv", "cannot create"]);
    if Path::new("/dev/full").exists() {
        let (code, _, err) =
            run_within(segloss().args(["eval", "--pred", &p, "--gt", &g, "--overlay", "/dev/full"]), 60);
        assert_error(code, &err, &["--overlay /dev/full", "not a folder"]);
    }
    let (code, _, err) =
        run_within(segloss().args(["eval", "--pred", &d.join("nope").display().to_string(), "--gt", &g]), 60);
    assert_error(code, &err, &["nope", "cannot list the folder"]);
    let (l, t) = binary_pair(&d);
    let (code, _, err) = loss(&["--logits", &l, "--targets", &t, "--grad-out", "/missing-dir-xyz/g.npy", "dice"]);
    assert_error(code, &err, &["/missing-dir-xyz/g.npy", "cannot create"]);
    let (code, _, err) = loss(&["--logits", "/missing-dir-xyz/l.npy", "--targets", &t, "dice"]);
    assert_error(code, &err, &["/missing-dir-xyz/l.npy", "reading"]);
}

// ---- 15. A bad soft prediction is skipped like any other bad file

#[test]
fn item15_nan_soft_prediction_is_skipped_and_the_csv_is_complete() {
    let (d, p, g) = eval_dirs("nan");
    let m: Vec<u8> = (0..20).map(|i| (i % 3 == 0) as u8).collect();
    npy_u8(&d.join("g/soft.npy"), &[4, 5], m.clone());
    let mut s: Vec<f32> = m.iter().map(|&v| v as f32 * 0.8 + 0.1).collect();
    s[7] = f32::NAN;
    npy_f32(&d.join("p/soft.npy"), &[4, 5], s);
    npy_u8(&d.join("g/z.npy"), &[4, 5], m.clone());
    npy_f32(&d.join("p/z.npy"), &[4, 5], m.iter().map(|&v| v as f32 * 0.8 + 0.1).collect());
    let csv_path = d.join("s.csv");
    let (code, out, err) =
        run_within(segloss().args(["eval", "--pred", &p, "--gt", &g, "--out", &csv_path.display().to_string()]), 120);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(out.contains("2 images scored, 1 skipped"), "{out}");
    assert!(out.contains("p/soft.npy: score NaN (not finite) at channel 0, row 1, column 2"), "{out}");
    let text = std::fs::read_to_string(&csv_path).unwrap();
    assert!(text.contains("\nMEAN(over images),"), "{text}");
    // --strict: stops with the error, and leaves no output file, not a partial one.
    let strict_csv = d.join("strict.csv");
    std::fs::write(&strict_csv, "previous\n").unwrap();
    let (code, _, err) = run_within(
        segloss().args([
            "eval",
            "--pred",
            &p,
            "--gt",
            &g,
            "--strict",
            "--threads",
            "1",
            "--out",
            &strict_csv.display().to_string(),
        ]),
        120,
    );
    assert_error(code, &err, &["soft.npy", "--strict"]);
    assert_eq!(std::fs::read_to_string(&strict_csv).unwrap(), "previous\n");
    let leftovers: Vec<_> = std::fs::read_dir(&d)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

// ---- 16. Values printed exactly

#[test]
fn item16_errors_print_the_values_found() {
    let d = temp_dir("values");
    let l3 = d.join("l3.npy");
    npy_f32(&l3, &[1, 3, 2, 2], vec![0.1; 12]);
    let t = d.join("t.npy");
    npy_i64(&t, &[1, 2, 2], vec![0, 1, 2, 4294967294]);
    let (code, _, err) =
        loss(&["--logits", &l3.display().to_string(), "--targets", &t.display().to_string(), "cross_entropy"]);
    assert_error(code, &err, &["4294967294"]);
    assert!(!err.contains("4294967300"), "{err}");
    let l0 = d.join("l0.npy");
    npy_f32(&l0, &[0, 3, 4, 4], vec![]);
    let t0 = d.join("t0.npy");
    npy_i64(&t0, &[0, 4, 4], vec![]);
    let (code, _, err) =
        loss(&["--logits", &l0.display().to_string(), "--targets", &t0.display().to_string(), "cross_entropy"]);
    assert_error(code, &err, &["l0.npy", "[0, 3, 4, 4]"]);
}

// ---- 17. Outputs never overwrite inputs, nor leave partial files

#[test]
fn item17_outputs_refuse_inputs_and_are_written_whole() {
    let (d, p, g) = eval_dirs("overwrite");
    let (l, t) = binary_pair(&d);
    let before = std::fs::read(&l).unwrap();
    for (out, flag) in [(&l, "--logits"), (&t, "--targets")] {
        let (code, _, err) = loss(&["--logits", &l, "--targets", &t, "--grad-out", out, "dice"]);
        assert_error(code, &err, &["--grad-out", flag]);
    }
    assert_eq!(std::fs::read(&l).unwrap(), before);
    for dir in [&p, &g] {
        let (code, _, err) = run_within(segloss().args(["eval", "--pred", &p, "--gt", &g, "--overlay", dir]), 60);
        assert_error(code, &err, &["--overlay"]);
    }
    assert!(d.join("p/a.npy").exists() && !d.join("p/a.png").exists());
    // A good gradient is complete and leaves no temporary file.
    let grad = d.join("g.npy").display().to_string();
    let (code, _, err) = loss(&["--logits", &l, "--targets", &t, "--grad-out", &grad, "dice"]);
    assert_eq!(code, Some(0), "{err}");
    let npy = segloss::io::npy::Npy::read(Path::new(&grad)).unwrap();
    assert_eq!(npy.shape, vec![2, 1, 3, 4]);
    let leftovers: Vec<_> = std::fs::read_dir(&d)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
