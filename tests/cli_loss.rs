//! `segloss loss` end to end: a preset against the peer's own value and gradient (fixture
//! files), a spec with two weighted terms against independently computed values, gradient
//! files in f32 and f64, and every kind of bad file as a one-line error naming the file.
use segloss::io::npy::{Npy, NpyData};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn segloss() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_segloss"));
    c.env("XDG_RUNTIME_DIR", std::env::var("XDG_RUNTIME_DIR").unwrap_or_else(|_| "/tmp".into()));
    c
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/peers")
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("segloss-cli-loss-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

fn case(name: &str) -> Value {
    let m: Value = serde_json::from_str(&std::fs::read_to_string(fixtures().join("manifest.json")).unwrap()).unwrap();
    m["cases"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap().clone()
}

fn file(c: &Value, key: &str) -> String {
    fixtures().join(c[key].as_str().unwrap()).display().to_string()
}

fn f64s(path: &Path) -> (Vec<usize>, Vec<f64>, bool) {
    let n = Npy::read(path).unwrap();
    let is64 = matches!(n.data, NpyData::F64(_));
    (n.shape.clone(), n.to_f64(), is64)
}

fn json_of(out: &Output) -> Value {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn rel_l2(a: &[f64], b: &[f64]) -> f64 {
    let d: f64 = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>().sqrt();
    d / b.iter().map(|y| y * y).sum::<f64>().sqrt()
}

#[test]
fn a_preset_gives_the_peers_value_and_gradient_in_f32_and_f64() {
    let c = case("monai_DiceCELoss_multiclass_weight");
    for (dtype, backend) in [("f32", "cpu"), ("f64", "gpu")] {
        let g = tmp(&format!("grad_{dtype}.npy"));
        let out = segloss()
            .args(["loss", "--logits", &file(&c, "logits"), "--targets", &file(&c, "targets"), "--json"])
            .args(["--backend", backend, "--grad-dtype", dtype, "--grad-out", g.to_str().unwrap()])
            .args(["monai.DiceCELoss", "softmax=True", "to_onehot_y=true", "weight=[0.5, 1.0, 2.0, 0.25]"])
            .output()
            .unwrap();
        let j = json_of(&out);
        let want = c["loss"].as_f64().unwrap();
        let got = j["loss"].as_f64().unwrap();
        assert!((got - want).abs() <= 1e-5 * want.abs(), "{backend}: {got} vs MONAI {want}");
        assert_eq!(j["terms"][0]["loss"], "monai.DiceCELoss");
        assert!(j["backend"].as_str().unwrap().starts_with(if backend == "cpu" { "cpu" } else { "gpu" }), "{j}");
        let (shape, grad, is64) = f64s(&g);
        let (wshape, want_grad, _) = f64s(Path::new(&file(&c, "grad")));
        assert_eq!((shape, is64), (wshape, dtype == "f64"));
        assert!(rel_l2(&grad, &want_grad) <= 1e-4, "{backend} gradient");
    }
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

#[test]
fn a_spec_with_two_weighted_terms_is_their_weighted_sum() {
    // smp.DiceLoss (value and gradient from smp) + 2 × smp.SoftBCEWithLogitsLoss (torch's BCE,
    // written out here) on the same binary inputs.
    let c = case("smp_DiceLoss_binary");
    let spec = tmp("spec.json");
    std::fs::write(
        &spec,
        r#"[{"loss": "smp.DiceLoss", "params": {"mode": "binary"}, "weight": 0.5},
            {"loss": "smp.SoftBCEWithLogitsLoss", "weight": 2.0}]"#,
    )
    .unwrap();
    let g = tmp("spec_grad.npy");
    let out = segloss()
        .args(["loss", "--logits", &file(&c, "logits"), "--targets", &file(&c, "targets"), "--json", "--backend"])
        .args(["cpu", "--spec", spec.to_str().unwrap(), "--grad-dtype", "f64", "--grad-out", g.to_str().unwrap()])
        .output()
        .unwrap();
    let j = json_of(&out);
    let (_, x, _) = f64s(Path::new(&file(&c, "logits")));
    let (_, t, _) = f64s(Path::new(&file(&c, "targets")));
    let n = x.len() as f64;
    let bce: f64 = x.iter().zip(&t).map(|(&x, &t)| x.max(0.0) - x * t + (-x.abs()).exp().ln_1p()).sum::<f64>() / n;
    let dice = c["loss"].as_f64().unwrap();
    let want = 0.5 * dice + 2.0 * bce;
    let got = j["loss"].as_f64().unwrap();
    assert!((got - want).abs() <= 1e-9 * want, "{got} vs {want}");
    assert!((j["terms"][1]["value"].as_f64().unwrap() - bce).abs() <= 1e-9 * bce, "{j}");
    assert_eq!(j["terms"][0]["weight"].as_f64(), Some(0.5));
    let (_, dice_grad, _) = f64s(Path::new(&file(&c, "grad")));
    let want_grad: Vec<f64> =
        x.iter().zip(&t).zip(&dice_grad).map(|((&x, &t), &d)| 0.5 * d + 2.0 * (sigmoid(x) - t) / n).collect();
    let (_, grad, _) = f64s(&g);
    assert!(rel_l2(&grad, &want_grad) <= 1e-6, "spec gradient");
}

fn write(name: &str, npy: &Npy) -> String {
    let p = tmp(name);
    std::fs::write(&p, npy.to_bytes()).unwrap();
    p.display().to_string()
}

/// Runs `segloss loss` and returns stderr, asserting a failure with a one-line message naming `file`.
fn fails_naming(args: &[&str], file: &str, needle: &str) {
    let out = segloss().args(["loss", "--backend", "cpu"]).args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "not one line: {stderr}");
    assert!(
        stderr.contains(file) && stderr.contains(needle),
        "{args:?}: expected '{file}' and '{needle}' in: {stderr}"
    );
    assert!(!stderr.contains("panicked"));
}

#[test]
fn bad_files_are_one_line_errors_naming_the_file() {
    let logits = Npy { shape: vec![1, 3, 2, 2], data: NpyData::F32((0..12).map(|i| i as f32 * 0.1).collect()) };
    let l = write("logits.npy", &logits);
    let labels = write("labels.npy", &Npy { shape: vec![1, 2, 2], data: NpyData::I64(vec![0, 1, 2, -100]) });
    // A good call first, so that each failure below is the file's fault.
    let ok = segloss()
        .args(["loss", "--backend", "cpu", "--logits", &l, "--targets", &labels, "kornia.dice_loss"])
        .output()
        .unwrap();
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));

    let not_npy = tmp("not.npy");
    std::fs::write(&not_npy, b"this is not a numpy file at all").unwrap();
    let not_npy = not_npy.display().to_string();
    fails_naming(&["--logits", &not_npy, "--targets", &labels, "kornia.dice_loss"], &not_npy, "not a .npy file");

    let bytes = logits.to_bytes();
    let truncated = tmp("truncated.npy");
    std::fs::write(&truncated, &bytes[..bytes.len() - 5]).unwrap();
    let truncated = truncated.display().to_string();
    fails_naming(&["--logits", &truncated, "--targets", &labels, "kornia.dice_loss"], &truncated, "truncated");

    let int_logits = write("int_logits.npy", &Npy { shape: vec![1, 3, 2, 2], data: NpyData::I32(vec![0; 12]) });
    fails_naming(&["--logits", &int_logits, "--targets", &labels, "kornia.dice_loss"], &int_logits, "float");

    let odd = tmp("odd.npy").display().to_string();
    let mut header = Npy { shape: vec![1, 2, 2], data: NpyData::U8(vec![0; 4]) }.to_bytes();
    let at = header.windows(3).position(|w| w == b"|u1").unwrap();
    header[at..at + 3].copy_from_slice(b"<c8");
    std::fs::write(&odd, &header).unwrap();
    fails_naming(&["--logits", &l, "--targets", &odd, "kornia.dice_loss"], &odd, "unsupported dtype");

    let small = write("small.npy", &Npy { shape: vec![1, 3, 3], data: NpyData::I64(vec![0; 9]) });
    fails_naming(&["--logits", &l, "--targets", &small, "kornia.dice_loss"], &small, "do not fit");

    let neg = write("neg.npy", &Npy { shape: vec![1, 2, 2], data: NpyData::I64(vec![0, 1, -1, 2]) });
    fails_naming(&["--logits", &l, "--targets", &neg, "kornia.dice_loss"], &neg, "label -1");

    let big = write("big.npy", &Npy { shape: vec![1, 1, 2, 2], data: NpyData::I64(vec![0, 1, 7, 2]) });
    fails_naming(&["--logits", &l, "--targets", &big, "monai.DiceLoss", "softmax=true", "to_onehot_y=true"], &big, "7");

    let missing = tmp("missing.npy").display().to_string();
    fails_naming(&["--logits", &l, "--targets", &missing, "kornia.dice_loss"], &missing, "");

    let out = segloss()
        .args(["loss", "--logits", &l, "--targets", &labels, "smp.DiceLoss", "mode=binary", "smoth=1"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("unknown keyword 'smoth'") && stderr.contains("smooth"), "{stderr}");
}

/// A float16 .npy (written by hand: the reader widens it) gives the same loss as the same values
/// in float32; a segloss loss by name with its parameters equals the library call.
#[test]
fn float16_logits_and_segloss_names() {
    let vals = [0.5f32, -1.25, 2.0, -0.75, 1.5, -3.0, 0.25, 0.0];
    let halves: [u16; 8] = [0x3800, 0xbd00, 0x4000, 0xba00, 0x3e00, 0xc200, 0x3400, 0x0000];
    let mut f16 = Npy { shape: vec![2, 1, 2, 2], data: NpyData::U8(vec![0; 8]) }.to_bytes();
    let at = f16.windows(3).position(|w| w == b"|u1").unwrap();
    f16[at..at + 3].copy_from_slice(b"<f2");
    f16.truncate(f16.len() - 8);
    f16.extend(halves.iter().flat_map(|h| h.to_le_bytes()));
    let h = tmp("half.npy");
    std::fs::write(&h, &f16).unwrap();
    let f = write("single.npy", &Npy { shape: vec![2, 1, 2, 2], data: NpyData::F32(vals.to_vec()) });
    let targets = [1.0f32, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0];
    let t = write("bin_t.npy", &Npy { shape: vec![2, 2, 2], data: NpyData::F32(targets.to_vec()) });
    let run = |logits: &str| {
        let out = segloss()
            .args(["loss", "--backend", "cpu", "--json", "--logits", logits, "--targets", &t])
            .args(["dice", "smooth=0.5", "aggregation=per_image"])
            .output()
            .unwrap();
        json_of(&out)["loss"].as_f64().unwrap()
    };
    let (half, single) = (run(h.to_str().unwrap()), run(&f));
    assert_eq!(half, single);
    let batch = segloss::BinaryBatch::new(&vals, &targets, &[2, 2, 2]).unwrap();
    let term = segloss::Loss::Dice(segloss::Dice::default().smooth(0.5)).per_image();
    let want = segloss::Engine::cpu().forward(&batch, &[term]).unwrap().values[0];
    assert!((single - want).abs() <= 1e-15, "{single} vs {want}");
}

#[test]
fn spec_errors_name_the_file_and_term_and_a_weight_of_zero_keeps_the_value() {
    let c = case("smp_DiceLoss_binary");
    let (x, t) = (file(&c, "logits"), file(&c, "targets"));
    let bad = tmp("bad_spec.json");
    std::fs::write(&bad, r#"[{"loss": "bce"}, {"loss": "dice", "params": {"bogus": 1}}]"#).unwrap();
    fails_naming(&["--logits", &x, "--targets", &t, "--spec", bad.to_str().unwrap()], "bad_spec.json", "term 1");
    let zero = tmp("zero_spec.json");
    std::fs::write(&zero, r#"[{"loss": "dice", "weight": 0}, {"loss": "bce", "weight": 1}]"#).unwrap();
    let out = segloss()
        .args(["loss", "--backend", "cpu", "--json", "--logits", &x, "--targets", &t, "--spec"])
        .arg(&zero)
        .output()
        .unwrap();
    let j = json_of(&out);
    let dice = j["terms"][0]["value"].as_f64().expect("a number, not null");
    let bce = j["terms"][1]["value"].as_f64().unwrap();
    assert!(dice > 0.0 && dice < 1.0, "{j}");
    assert_eq!(j["loss"].as_f64(), Some(bce), "{j}");
}

/// A 3-D volume `[N, C, D, H, W]` with a `[N, 1, D, H, W]` label volume, on the GPU: MONAI's own
/// value and gradient (the `vol_monai_DiceCELoss_multiclass` fixture); the same labels with a
/// spatial dim dropped or transposed do not fit and say so.
#[test]
fn a_volume_gives_the_peers_value_and_gradient() {
    let c = case("vol_monai_DiceCELoss_multiclass");
    let g = tmp("vol_grad.npy");
    let out = segloss()
        .args(["loss", "--logits", &file(&c, "logits"), "--targets", &file(&c, "targets"), "--json", "--backend"])
        .args(["gpu", "--grad-out", g.to_str().unwrap(), "monai.DiceCELoss", "softmax=True", "to_onehot_y=True"])
        .output()
        .unwrap();
    let j = json_of(&out);
    let (want, got) = (c["loss"].as_f64().unwrap(), j["loss"].as_f64().unwrap());
    assert!((got - want).abs() <= 1e-5 * want.abs(), "{got} vs MONAI {want}");
    let (shape, grad, _) = f64s(&g);
    let (wshape, want_grad, _) = f64s(Path::new(&file(&c, "grad")));
    assert_eq!(shape.len(), 5);
    assert_eq!(shape, wshape);
    assert!(rel_l2(&grad, &want_grad) <= 1e-4, "volume gradient");

    let (tshape, labels, _) = f64s(Path::new(&file(&c, "targets")));
    let as_i64: Vec<i64> = labels.iter().map(|&v| v as i64).collect();
    let (n, d, h, w) = (tshape[0], tshape[2], tshape[3], tshape[4]);
    for (name, shape) in [("flat.npy", vec![n, 1, d * h, w]), ("swapped.npy", vec![n, 1, d, w, h])] {
        let f = write(name, &Npy { shape, data: NpyData::I64(as_i64.clone()) });
        fails_naming(
            &["--logits", &file(&c, "logits"), "--targets", &f, "monai.DiceCELoss", "softmax=True", "to_onehot_y=True"],
            &f,
            "do not fit",
        );
    }
}
