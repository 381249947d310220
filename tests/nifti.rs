//! NIfTI-1 label volumes (`.nii`, `.nii.gz`): read exactly as the same labels in `.npy` (every
//! integer type, whole-number floats, both byte orders, an extension before the voxels, 2-D
//! and 3-D), `segloss eval --surface` giving the same report from either, and every lie a
//! header can tell refused with a message before anything is allocated.
#[path = "common/files.rs"]
mod files;
use files::*;
use segloss::io::mask::{probe_volume, read_mask_volume_limited};
use serde_json::Value;
use std::io::Write;
use std::path::Path;

/// The bytes of a single-file NIfTI-1 of `dims` (nx, ny, nz) with the voxel bytes `data`
/// (already in the byte order `little` says), `datatype`/`bitpix`, `offset` (≥ 352; the
/// extension flag and any padding are zeros).
fn nifti(dims: &[i16], datatype: i16, bitpix: i16, little: bool, offset: usize, data: &[u8]) -> Vec<u8> {
    let mut h = vec![0u8; offset];
    let put16 = |h: &mut Vec<u8>, at: usize, v: i16| {
        h[at..at + 2].copy_from_slice(&if little { v.to_le_bytes() } else { v.to_be_bytes() })
    };
    let put32 = |h: &mut Vec<u8>, at: usize, b: [u8; 4]| h[at..at + 4].copy_from_slice(&b);
    let (i32b, f32b) = (
        |v: i32| if little { v.to_le_bytes() } else { v.to_be_bytes() },
        |v: f32| if little { v.to_le_bytes() } else { v.to_be_bytes() },
    );
    put32(&mut h, 0, i32b(348));
    put16(&mut h, 40, dims.len() as i16);
    for (k, &d) in dims.iter().enumerate() {
        put16(&mut h, 42 + 2 * k, d);
    }
    put16(&mut h, 70, datatype);
    put16(&mut h, 72, bitpix);
    put32(&mut h, 108, f32b(offset as f32));
    put32(&mut h, 112, f32b(1.0));
    h[344..348].copy_from_slice(b"n+1\0");
    h.extend_from_slice(data);
    h
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// Labels 0..4 of a (nx, ny, nz) volume, x fastest, with blobs so that surfaces exist.
fn labels(nx: usize, ny: usize, nz: usize, seed: usize) -> Vec<i64> {
    (0..nx * ny * nz)
        .map(|j| {
            let (x, y, z) = (j % nx, (j / nx) % ny, j / (nx * ny));
            let r = |cx: usize, cy: usize| (x as i64 - cx as i64).pow(2) + (y as i64 - cy as i64).pow(2);
            if r(nx / 3 + seed, ny / 2) + (z as i64 - 1).pow(2) <= 6 {
                1
            } else if r(2 * nx / 3, ny / 3 + seed) <= 4 + z as i64 {
                2
            } else {
                (((x * 7 + y * 3 + z * 5 + seed) % 23) == 0) as i64 * 3
            }
        })
        .collect()
}

/// Each encoding of the same labels: (name, bytes). 2-D when nz = 1.
fn encodings(v: &[i64], dims: &[i16]) -> Vec<(&'static str, Vec<u8>)> {
    let le8 = |f: &dyn Fn(i64) -> Vec<u8>| v.iter().flat_map(|&x| f(x)).collect::<Vec<u8>>();
    vec![
        ("u8.nii", nifti(dims, 2, 8, true, 352, &le8(&|x| vec![x as u8]))),
        ("i16be.nii.gz", gz(&nifti(dims, 4, 16, false, 352, &le8(&|x| (x as i16).to_be_bytes().to_vec())))),
        ("u16-ext.nii", nifti(dims, 512, 16, true, 400, &le8(&|x| (x as u16).to_le_bytes().to_vec()))),
        ("i32.nii.gz", gz(&nifti(dims, 8, 32, true, 352, &le8(&|x| (x as i32).to_le_bytes().to_vec())))),
        ("f32be.nii", nifti(dims, 16, 32, false, 352, &le8(&|x| (x as f32).to_be_bytes().to_vec()))),
        ("f64.nii", nifti(dims, 64, 64, true, 352, &le8(&|x| (x as f64).to_le_bytes().to_vec()))),
        ("i64be.nii", nifti(dims, 1024, 64, false, 352, &le8(&|x| x.to_be_bytes().to_vec()))),
        ("i8.NII.GZ", gz(&nifti(dims, 256, 8, true, 352, &le8(&|x| vec![x as i8 as u8])))),
    ]
}

#[test]
fn every_encoding_reads_as_the_same_labels_as_npy() {
    let dir = temp_dir("nifti-read");
    for (nx, ny, nz) in [(9usize, 7usize, 5usize), (11, 6, 1)] {
        let v = labels(nx, ny, nz, 1);
        let dims: Vec<i16> = if nz > 1 { vec![nx as i16, ny as i16, nz as i16] } else { vec![nx as i16, ny as i16] };
        let npy = dir.join(format!("{nz}.npy"));
        let shape = if nz > 1 { vec![nz, ny, nx] } else { vec![ny, nx] };
        npy_i64(&npy, &shape, v.clone());
        let want = (probe_volume(&npy).unwrap(), read_mask_volume_limited(&npy, u64::MAX).unwrap());
        for (name, bytes) in encodings(&v, &dims) {
            let path = dir.join(format!("{nz}-{name}"));
            std::fs::write(&path, bytes).unwrap();
            let got = (probe_volume(&path).unwrap(), read_mask_volume_limited(&path, u64::MAX).unwrap());
            assert_eq!(got, want, "{name} ({nx}x{ny}x{nz})");
        }
    }
    // A 4-D header whose extra dimensions are 1 is a volume too.
    let v = labels(4, 3, 2, 0);
    let path = dir.join("4d.nii");
    std::fs::write(&path, nifti(&[4, 3, 2, 1], 2, 8, true, 352, &v.iter().map(|&x| x as u8).collect::<Vec<_>>()))
        .unwrap();
    assert_eq!(probe_volume(&path).unwrap().d, 2);
}

fn eval(pred: &Path, gt: &Path, out: &Path) -> Value {
    let o = segloss()
        .args(["eval", "--pred"])
        .arg(pred)
        .arg("--gt")
        .arg(gt)
        .args(["--num-classes", "4", "--surface", "--surface-engine", "cpu", "--out"])
        .arg(out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    serde_json::from_str(&std::fs::read_to_string(out).unwrap()).unwrap()
}

#[test]
fn eval_scores_nifti_volumes_as_the_same_npy() {
    let dir = temp_dir("nifti-eval");
    let (nx, ny, nz) = (13usize, 11usize, 6usize);
    for sub in ["pred", "gt_npy", "gt_nii"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    for case in 0..3 {
        let (gt, pred) = (labels(nx, ny, nz, case), labels(nx, ny, nz, case + 1));
        npy_i64(&dir.join(format!("pred/case{case}.npy")), &[nz, ny, nx], pred);
        npy_i64(&dir.join(format!("gt_npy/case{case}.npy")), &[nz, ny, nx], gt.clone());
        let data: Vec<u8> = gt.iter().flat_map(|&x| (x as i16).to_be_bytes()).collect();
        let bytes = gz(&nifti(&[nx as i16, ny as i16, nz as i16], 4, 16, false, 352, &data));
        std::fs::write(dir.join(format!("gt_nii/case{case}.nii.gz")), bytes).unwrap();
    }
    let a = eval(&dir.join("pred"), &dir.join("gt_npy"), &dir.join("a.json"));
    let b = eval(&dir.join("pred"), &dir.join("gt_nii"), &dir.join("b.json"));
    let images = |r: &Value| r["images"].as_array().unwrap().iter().map(|i| i["metrics"].clone()).collect::<Vec<_>>();
    assert_eq!(images(&a).len(), 3);
    assert_eq!(images(&a), images(&b));
    assert!(images(&a)[0]["hd95"][1].as_f64().is_some(), "class 1 has surfaces: {}", images(&a)[0]);
    assert_eq!(a["mean_over_images"], b["mean_over_images"]);
}

#[test]
fn lying_headers_are_refused_by_name() {
    let dir = temp_dir("nifti-bad");
    let ok = nifti(&[4, 3, 2], 2, 8, true, 352, &[1u8; 24]);
    let edit = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = ok.clone();
        f(&mut b);
        b
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("short.nii", ok[..200].to_vec(), "header"),
        ("sizeof.nii", edit(&|b| b[0] = 0x5d), "sizeof_hdr"),
        ("nifti2.nii", edit(&|b| b[0..4].copy_from_slice(&540i32.to_le_bytes())), "NIfTI-2"),
        ("pair.nii", edit(&|b| b[344..348].copy_from_slice(b"ni1\0")), ".hdr/.img"),
        ("magic.nii", edit(&|b| b[344..348].copy_from_slice(b"abcd")), "magic"),
        ("ndim.nii", edit(&|b| b[40..42].copy_from_slice(&9i16.to_le_bytes())), "dim[0]"),
        ("zero.nii", edit(&|b| b[44..46].copy_from_slice(&0i16.to_le_bytes())), "dim[2] = 0"),
        ("time.nii", nifti(&[4, 3, 2, 5], 2, 8, true, 352, &[1u8; 120]), "time series"),
        ("rgb.nii", edit(&|b| b[70..72].copy_from_slice(&128i16.to_le_bytes())), "datatype 128"),
        ("bitpix.nii", edit(&|b| b[72..74].copy_from_slice(&16i16.to_le_bytes())), "bitpix"),
        ("scaled.nii", edit(&|b| b[112..116].copy_from_slice(&2f32.to_le_bytes())), "scl_slope"),
        ("offset.nii", edit(&|b| b[108..112].copy_from_slice(&100f32.to_le_bytes())), "vox_offset"),
        ("offset-nan.nii", edit(&|b| b[108..112].copy_from_slice(&f32::NAN.to_le_bytes())), "vox_offset"),
        ("truncated.nii", ok[..370].to_vec(), "truncated"),
        ("truncated.nii.gz", gz(&ok[..370]), "truncated"),
        (
            "fraction.nii",
            nifti(&[2, 2], 16, 32, true, 352, &[0f32, 1.0, 2.5, 1.0].map(f32::to_le_bytes).concat()),
            "2.5",
        ),
        (
            "nan.nii",
            nifti(&[2, 2], 64, 64, true, 352, &[0f64, f64::NAN, 1.0, 1.0].map(f64::to_le_bytes).concat()),
            "NaN",
        ),
        ("notgz.nii.gz", ok.clone(), "header"),
    ];
    for (name, bytes, needle) in cases {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        let err = match probe_volume(&path).and_then(|_| read_mask_volume_limited(&path, u64::MAX)) {
            Ok(m) => panic!("{name}: read as {m:?}"),
            Err(e) => e,
        };
        assert!(err.contains(needle), "{name}: {err:?} does not say {needle:?}");
    }
}

#[test]
fn declared_sizes_are_checked_before_allocating() {
    let dir = temp_dir("nifti-huge");
    // 32767³ voxels of i64 declared in a 360-byte file: refused by the budget, and with no
    // budget by the file's length, before any allocation.
    let huge = nifti(&[32767, 32767, 32767], 1024, 64, true, 352, &[0u8; 8]);
    let path = dir.join("huge.nii");
    std::fs::write(&path, &huge).unwrap();
    let err = read_mask_volume_limited(&path, 1 << 24).unwrap_err();
    assert!(err.contains("budget"), "{err}");
    let err = read_mask_volume_limited(&path, u64::MAX).unwrap_err();
    assert!(err.contains("truncated"), "{err}");
    // Compressed, the length says nothing: the budget refuses it, and within the budget the
    // stream's end does.
    let path = dir.join("huge.nii.gz");
    std::fs::write(&path, gz(&huge)).unwrap();
    let err = read_mask_volume_limited(&path, 1 << 24).unwrap_err();
    assert!(err.contains("budget"), "{err}");
    // The reader's own check, without the mask layer's probe in front of it: a budget one
    // voxel short is refused, the exact budget is read.
    let exact = nifti(&[4, 3, 2], 2, 8, true, 352, &[1u8; 24]);
    for (bytes, name) in [(exact.clone(), "plain"), (gz(&exact), "gzip")] {
        let err = segloss::io::nifti::parse(&bytes, 23).unwrap_err();
        assert!(err.contains("24 voxels, above the pixel budget of 23"), "{name}: {err}");
        assert_eq!(segloss::io::nifti::parse(&bytes, 24).unwrap(), (vec![2, 3, 4], vec![1i64; 24]), "{name}");
    }
    let exact_path = dir.join("exact.nii");
    std::fs::write(&exact_path, &exact).unwrap();
    assert!(segloss::io::nifti::read_labels(&exact_path, 23).unwrap_err().contains("budget"));
    let small = nifti(&[64, 64, 64], 2, 8, true, 352, &[1u8; 1000]);
    std::fs::write(&path, gz(&small)).unwrap();
    let err = read_mask_volume_limited(&path, 1 << 24).unwrap_err();
    assert!(err.contains("truncated: 1000 of the 262144"), "{err}");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]
    /// Any header bytes changed anywhere: a result or an error, never a panic, and never more
    /// voxels than the budget.
    #[test]
    fn corrupted_headers_never_panic(edits in proptest::collection::vec((0usize..400, proptest::prelude::any::<u8>()), 1..6),
                                     gzip in proptest::prelude::any::<bool>()) {
        let mut bytes = nifti(&[5, 4, 3], 4, 16, true, 352, &[1u8; 120]);
        for (at, v) in edits {
            if at < bytes.len() {
                bytes[at] = v;
            }
        }
        let dir = temp_dir("nifti-prop");
        let path = dir.join(if gzip { "x.nii.gz" } else { "x.nii" });
        std::fs::write(&path, if gzip { gz(&bytes) } else { bytes }).unwrap();
        if let Ok(segloss::io::mask::Mask::Labels { h, w, values }) = read_mask_volume_limited(&path, 4096) {
            proptest::prop_assert!(values.len() == h * w && values.len() <= 4096);
        }
    }
}
