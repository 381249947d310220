//! `segloss eval` end to end: generated PNG/.npy datasets scored by the CLI match metrics
//! computed here by plain counting (counts exactly, ratios within 1e-9); bad files are
//! reported by name while the rest is scored; memory stays flat over 2 000 images.
mod common;
use common::Rng;
use segloss::io::mask::write_gray_png;
use segloss::io::npy::{Npy, NpyData};
use std::path::{Path, PathBuf};
use std::process::Command;

fn segloss() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_segloss"));
    c.env("XDG_RUNTIME_DIR", std::env::var("XDG_RUNTIME_DIR").unwrap_or_else(|_| "/tmp".into()));
    c
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("segloss-eval-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.join("pred")).unwrap();
    std::fs::create_dir_all(d.join("gt")).unwrap();
    d
}

/// A JSON number after `"key":` in `text` (first occurrence after `from`).
fn json_number(text: &str, key: &str) -> f64 {
    let at = text.find(&format!("\"{key}\":")).unwrap_or_else(|| panic!("{key} not in {text}"));
    let rest = &text[at + key.len() + 3..];
    let end = rest.find([',', '}', ']']).unwrap();
    rest[..end].parse().unwrap()
}

/// The JSON array after `"key":` (numbers).
fn json_array(text: &str, key: &str) -> Vec<f64> {
    let at = text.find(&format!("\"{key}\":[")).unwrap();
    let rest = &text[at + key.len() + 4..];
    rest[..rest.find(']').unwrap()].split(',').map(|v| v.parse().unwrap()).collect()
}

/// Plain counting: confusion (rows = truth) of one image.
fn count(truth: &[Option<usize>], pred: &[usize], c: usize, conf: &mut [u64]) {
    for (t, &p) in truth.iter().zip(pred) {
        if let Some(t) = t {
            conf[t * c + p] += 1;
        }
    }
}

fn iou(conf: &[u64], c: usize, k: usize) -> f64 {
    let tp = conf[k * c + k];
    let fp: u64 = (0..c).filter(|&r| r != k).map(|r| conf[r * c + k]).sum();
    let fn_: u64 = (0..c).filter(|&q| q != k).map(|q| conf[k * c + q]).sum();
    if tp + fp + fn_ == 0 {
        1.0
    } else {
        tp as f64 / (tp + fp + fn_) as f64
    }
}

fn dataset(dir: &Path, c: usize, n: usize, rng: &mut Rng) -> (Vec<u64>, Vec<Vec<u64>>) {
    let mut total = vec![0u64; c * c];
    let mut per_image = Vec::new();
    for i in 0..n {
        let (h, w) = (7 + i % 5, 9 + (i * 3) % 7);
        let truth: Vec<u16> =
            (0..h * w).map(|_| if rng.uniform() < 0.08 { 255 } else { (rng.next_u64() % c as u64) as u16 }).collect();
        let pred: Vec<u16> = truth
            .iter()
            .map(|&t| if t != 255 && rng.uniform() < 0.7 { t } else { (rng.next_u64() % c as u64) as u16 })
            .collect();
        let binary = c == 2;
        // Ground truth stored in every supported way; binary masks as 0/255.
        let gt_values: Vec<u16> = truth.iter().map(|&t| if binary && t == 1 { 200 } else { t }).collect();
        let gt_path = dir.join("gt").join(format!("img{i:03}.png"));
        match i % 3 {
            0 => write_gray_png(&gt_path, w, h, &gt_values, 8, false).unwrap(),
            1 => write_gray_png(&gt_path, w, h, &gt_values, 16, false).unwrap(),
            _ => write_gray_png(&gt_path, w, h, &gt_values, 8, true).unwrap(),
        }
        let pred_path = dir.join("pred").join(format!("img{i:03}"));
        if i % 4 == 3 {
            let npy = Npy { shape: vec![h, w], data: NpyData::U8(pred.iter().map(|&v| v as u8).collect()) };
            std::fs::write(pred_path.with_extension("npy"), npy.to_bytes()).unwrap();
        } else {
            write_gray_png(&pred_path.with_extension("png"), w, h, &pred, 8, i % 2 == 0).unwrap();
        }
        let truth_class: Vec<Option<usize>> = truth.iter().map(|&t| (t != 255).then_some(t as usize)).collect();
        let pred_class: Vec<usize> = pred.iter().map(|&p| p as usize).collect();
        let mut conf = vec![0u64; c * c];
        count(&truth_class, &pred_class, c, &mut conf);
        total.iter_mut().zip(&conf).for_each(|(a, b)| *a += b);
        per_image.push(conf);
    }
    (total, per_image)
}

fn check(dir: &Path, c: usize, total: &[u64], per_image: &[Vec<u64>], args: &[&str]) {
    let json = dir.join("scores.json");
    let out = segloss()
        .args(["eval", "--pred", dir.join("pred").to_str().unwrap(), "--gt", dir.join("gt").to_str().unwrap()])
        .args(args)
        .args(["--out", json.to_str().unwrap(), "--overlay", dir.join("overlay").to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&json).unwrap();
    // Confusion matrix: exact.
    let conf_text = &text[text.find("\"confusion\":[").unwrap()..];
    let got: Vec<u64> = conf_text[13..conf_text.find("]]").unwrap() + 1]
        .replace(['[', ']'], "")
        .split(',')
        .map(|v| v.parse().unwrap())
        .collect();
    assert_eq!(got, total, "confusion");
    let pooled = &text[text.find("\"dataset_pooled\":").unwrap()..];
    assert_eq!(json_number(pooled, "pixels") as u64, total.iter().sum::<u64>());
    let ious = json_array(pooled, "iou");
    for (k, got) in ious.iter().enumerate() {
        assert!((got - iou(total, c, k)).abs() < 1e-9, "pooled IoU {k}: {got} vs {}", iou(total, c, k));
    }
    let correct: u64 = (0..c).map(|k| total[k * c + k]).sum();
    assert!((json_number(pooled, "pixel_accuracy") - correct as f64 / total.iter().sum::<u64>() as f64).abs() < 1e-9);
    let mean = &text[text.find("\"mean_over_images\":").unwrap()..];
    let mean_iou0: f64 = per_image.iter().map(|conf| iou(conf, c, 0)).sum::<f64>() / per_image.len() as f64;
    assert!((json_array(mean, "iou")[0] - mean_iou0).abs() < 1e-9);
    assert_eq!(std::fs::read_dir(dir.join("overlay")).unwrap().count(), per_image.len());
}

#[test]
fn eval_matches_plain_counting_on_binary_and_multiclass_datasets() {
    let mut rng = Rng::new(808);
    let dir = temp_dir("multi");
    let (total, per_image) = dataset(&dir, 5, 24, &mut rng);
    check(&dir, 5, &total, &per_image, &["--num-classes", "5", "--ignore-index", "255"]);
    let dir = temp_dir("binary");
    let (total, per_image) = dataset(&dir, 2, 24, &mut rng);
    check(&dir, 2, &total, &per_image, &["--ignore-index", "255"]);
}

#[test]
fn bad_files_are_reported_by_name_and_the_rest_is_scored() {
    let mut rng = Rng::new(9);
    let dir = temp_dir("bad");
    dataset(&dir, 3, 6, &mut rng);
    std::fs::write(dir.join("pred/corrupt.png"), b"\x89PNG\r\n\x1a\nnot really").unwrap();
    write_gray_png(&dir.join("gt/corrupt.png"), 3, 3, &[0; 9], 8, false).unwrap();
    let npy = Npy { shape: vec![4, 4], data: NpyData::U8(vec![0; 16]) }.to_bytes();
    std::fs::write(dir.join("pred/truncated.npy"), &npy[..npy.len() - 5]).unwrap();
    write_gray_png(&dir.join("gt/truncated.png"), 4, 4, &[0; 16], 8, false).unwrap();
    write_gray_png(&dir.join("pred/lonely.png"), 2, 2, &[0; 4], 8, false).unwrap();
    write_gray_png(&dir.join("pred/mismatch.png"), 5, 5, &[0; 25], 8, false).unwrap();
    write_gray_png(&dir.join("gt/mismatch.png"), 4, 5, &[0; 20], 8, false).unwrap();
    write_gray_png(&dir.join("pred/badclass.png"), 2, 2, &[0; 4], 8, false).unwrap();
    write_gray_png(&dir.join("gt/badclass.png"), 2, 2, &[0, 1, 7, 2], 8, false).unwrap();
    let out = segloss()
        .args(["eval", "--pred", dir.join("pred").to_str().unwrap(), "--gt", dir.join("gt").to_str().unwrap()])
        .args(["--num-classes", "3", "--ignore-index", "255"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("6 images scored, 5 skipped"), "{stdout}");
    for (file, why) in [
        ("corrupt.png", "corrupt PNG"),
        ("truncated.npy", "truncated"),
        ("lonely.png", "no ground truth"),
        ("mismatch.png", "5x5 but the ground truth is 5x4"),
        ("badclass.png", "class 7 at row 1, column 0"),
    ] {
        let line =
            stdout.lines().find(|l| l.contains(file)).unwrap_or_else(|| panic!("{file} not reported:\n{stdout}"));
        assert!(line.contains(why), "{file}: {line}");
    }
    let strict = segloss()
        .args(["eval", "--pred", dir.join("pred").to_str().unwrap(), "--gt", dir.join("gt").to_str().unwrap()])
        .args(["--num-classes", "3", "--ignore-index", "255", "--strict", "--threads", "1"])
        .output()
        .unwrap();
    assert_eq!(strict.status.code(), Some(1));
}

#[test]
fn soft_predictions_get_losses_too() {
    let dir = temp_dir("soft");
    let (c, h, w) = (3, 5, 6);
    let mut rng = Rng::new(3);
    for i in 0..3 {
        let labels: Vec<u16> = (0..h * w).map(|_| (rng.next_u64() % c as u64) as u16).collect();
        write_gray_png(&dir.join(format!("gt/s{i}.png")), w, h, &labels, 8, false).unwrap();
        let scores: Vec<f32> = (0..c * h * w).map(|_| rng.normal() as f32).collect();
        let npy = Npy { shape: vec![c, h, w], data: NpyData::F32(scores) };
        std::fs::write(dir.join(format!("pred/s{i}.npy")), npy.to_bytes()).unwrap();
    }
    let csv = dir.join("s.csv");
    let out = segloss()
        .args(["eval", "--pred", dir.join("pred").to_str().unwrap(), "--gt", dir.join("gt").to_str().unwrap()])
        .args(["--num-classes", "3", "--out", csv.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(csv).unwrap();
    assert!(text.lines().next().unwrap().contains("loss_cross_entropy,loss_dice"), "{text}");
    assert_eq!(text.lines().count(), 1 + 3 + 2, "{text}");
    assert!(text.contains("DATASET(pooled)") && text.contains("MEAN(over images)"));
}

#[test]
fn memory_stays_flat_over_2000_images() {
    let dir = temp_dir("many");
    let mut rng = Rng::new(2000);
    let write = |dir: &Path, n: usize, rng: &mut Rng| {
        for i in 0..n {
            let v: Vec<u16> = (0..24 * 24).map(|_| (rng.next_u64() % 4) as u16).collect();
            write_gray_png(&dir.join(format!("gt/m{i:04}.png")), 24, 24, &v, 8, false).unwrap();
            write_gray_png(&dir.join(format!("pred/m{i:04}.png")), 24, 24, &v, 8, false).unwrap();
        }
    };
    let peak = |dir: &Path| -> (u64, f64) {
        let out = segloss()
            .args(["eval", "--pred", dir.join("pred").to_str().unwrap(), "--gt", dir.join("gt").to_str().unwrap()])
            .args(["--num-classes", "4", "--out", dir.join("o.csv").to_str().unwrap()])
            .env("SEGLOSS_REPORT_MEMORY", "1")
            .output()
            .unwrap();
        let s = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{s}");
        let kib = s.lines().find_map(|l| l.strip_prefix("peak resident memory: ")).unwrap();
        let rate = s.split(" images/s").next().unwrap().rsplit(' ').next().unwrap().parse().unwrap();
        (kib.trim_end_matches(" KiB").parse().unwrap(), rate)
    };
    write(&dir, 200, &mut rng);
    let (small, _) = peak(&dir);
    let dir2 = temp_dir("many2");
    write(&dir2, 2000, &mut rng);
    let (large, rate) = peak(&dir2);
    eprintln!("peak RSS: 200 images {small} KiB, 2000 images {large} KiB; {rate} images/s");
    // Decoded images are bounded by the pipeline; only the paired file-name list grows (two
    // paths per image, ~0.5 KiB). Keeping any image's decoded data (two 24×24 maps of i64 =
    // 9 KiB) would exceed the 1 KiB per image allowed here.
    let per_image = (large.saturating_sub(small)) as f64 * 1024.0 / 1800.0;
    assert!(per_image < 1024.0, "memory grew from {small} KiB to {large} KiB: {per_image:.0} B per image");
}
