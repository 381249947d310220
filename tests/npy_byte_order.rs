//! Byte order in `.npy`: a big-endian array (`>f4`, what NumPy writes after
//! `a.byteswap().view(a.dtype.newbyteorder())` or on a big-endian machine) must be read
//! correctly or refused with an error that names its dtype; never misread as little-endian.
//! Checked through `segloss::io::npy` and through `segloss loss`.
use segloss::io::npy::{Npy, NpyData};
use std::process::Command;

/// A version-1 `.npy` file written here byte by byte (independently of `Npy::to_bytes`).
fn npy_file(descr: &str, shape: &[usize], body: &[u8]) -> Vec<u8> {
    let shape = match shape.len() {
        1 => format!("({},)", shape[0]),
        _ => format!("({})", shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")),
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(body);
    out
}

/// Values whose byte-swapped reading differs from them (no palindromic byte patterns).
const VALUES: [f64; 6] = [1.5, -2.25, 0.1, 3.0e5, -7.0, 0.0078125];

/// A dtype without its order character, its big- and little-endian bodies, and the values.
type Case = (&'static str, Vec<u8>, Vec<u8>, Vec<f64>);

fn cases() -> Vec<Case> {
    let ints: Vec<i64> = vec![1, -2, 300, 70000, -5, 4097];
    let u16s: Vec<u16> = vec![1, 2, 300, 7000, 5, 4097];
    // f16 bit patterns of 1.5, −2.25, 0.5, 1024, −7, 0.0078125.
    let f16s: Vec<u16> = vec![0x3e00, 0xc080, 0x3800, 0x6400, 0xc700, 0x2000];
    vec![
        (
            "f4",
            VALUES.iter().flat_map(|&v| (v as f32).to_be_bytes()).collect(),
            VALUES.iter().flat_map(|&v| (v as f32).to_le_bytes()).collect(),
            VALUES.iter().map(|&v| v as f32 as f64).collect(),
        ),
        (
            "f8",
            VALUES.iter().flat_map(|&v| v.to_be_bytes()).collect(),
            VALUES.iter().flat_map(|&v| v.to_le_bytes()).collect(),
            VALUES.to_vec(),
        ),
        (
            "f2",
            f16s.iter().flat_map(|&v| v.to_be_bytes()).collect(),
            f16s.iter().flat_map(|&v| v.to_le_bytes()).collect(),
            vec![1.5, -2.25, 0.5, 1024.0, -7.0, 0.0078125],
        ),
        (
            "i4",
            ints.iter().flat_map(|&v| (v as i32).to_be_bytes()).collect(),
            ints.iter().flat_map(|&v| (v as i32).to_le_bytes()).collect(),
            ints.iter().map(|&v| v as f64).collect(),
        ),
        (
            "i8",
            ints.iter().flat_map(|&v| v.to_be_bytes()).collect(),
            ints.iter().flat_map(|&v| v.to_le_bytes()).collect(),
            ints.iter().map(|&v| v as f64).collect(),
        ),
        (
            "u2",
            u16s.iter().flat_map(|&v| v.to_be_bytes()).collect(),
            u16s.iter().flat_map(|&v| v.to_le_bytes()).collect(),
            u16s.iter().map(|&v| v as f64).collect(),
        ),
    ]
}

#[test]
fn big_endian_arrays_are_read_correctly_or_refused_by_dtype() {
    for (kind, be, le, want) in cases() {
        // Control: the little-endian file reads as the values (so the check below is live).
        let little = Npy::parse(&npy_file(&format!("<{kind}"), &[2, 3], &le)).unwrap();
        assert_eq!(little.shape, vec![2, 3]);
        assert_eq!(little.to_f64(), want, "<{kind}");
        let descr = format!(">{kind}");
        match Npy::parse(&npy_file(&descr, &[2, 3], &be)) {
            Ok(n) => {
                assert_eq!(n.shape, vec![2, 3], "{descr}");
                assert_eq!(n.to_f64(), want, "{descr} was misread (as little-endian?)");
            }
            Err(e) => {
                let msg = e.to_string();
                assert!(
                    msg.contains(&descr) || msg.contains("endian") || msg.contains("byte order"),
                    "{descr}: the error should name the dtype or the byte order: {msg}"
                );
            }
        }
    }
}

fn segloss() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_segloss"));
    c.env("XDG_RUNTIME_DIR", std::env::var("XDG_RUNTIME_DIR").unwrap_or_else(|_| "/tmp".into()));
    c
}

#[test]
fn segloss_loss_does_not_misread_big_endian_logits() {
    let dir = std::env::temp_dir().join(format!("segloss-npy-order-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let logits: Vec<f32> = (0..2 * 5 * 7).map(|i| ((i * 37 % 23) as f32 - 11.0) / 4.0).collect();
    let targets: Vec<f32> = (0..2 * 5 * 7).map(|i| ((i * 13 % 7) < 3) as u8 as f32).collect();
    let t_path = dir.join("targets.npy");
    std::fs::write(&t_path, Npy { shape: vec![2, 1, 5, 7], data: NpyData::F32(targets) }.to_bytes()).unwrap();
    let le_path = dir.join("logits_le.npy");
    let be_path = dir.join("logits_be.npy");
    let le: Vec<u8> = logits.iter().flat_map(|v| v.to_le_bytes()).collect();
    let be: Vec<u8> = logits.iter().flat_map(|v| v.to_be_bytes()).collect();
    std::fs::write(&le_path, npy_file("<f4", &[2, 1, 5, 7], &le)).unwrap();
    std::fs::write(&be_path, npy_file(">f4", &[2, 1, 5, 7], &be)).unwrap();
    let run = |logits: &std::path::Path| {
        segloss()
            .args(["loss", "--backend", "cpu", "--json", "--logits", logits.to_str().unwrap()])
            .args(["--targets", t_path.to_str().unwrap(), "smp.SoftBCEWithLogitsLoss"])
            .output()
            .unwrap()
    };
    let good = run(&le_path);
    assert!(good.status.success(), "{}", String::from_utf8_lossy(&good.stderr));
    let want: serde_json::Value = serde_json::from_slice(&good.stdout).unwrap();
    let want = want["loss"].as_f64().unwrap();
    // Independent: torch's BCE-with-logits mean, written out.
    let n = logits.len() as f64;
    let bce: f64 = (0..logits.len())
        .map(|i| {
            let (x, t) = (logits[i] as f64, ((i * 13 % 7) < 3) as u8 as f64);
            x.max(0.0) - x * t + (-x.abs()).exp().ln_1p()
        })
        .sum::<f64>()
        / n;
    assert!((want - bce).abs() <= 1e-9 * bce, "{want} vs {bce}");
    let out = run(&be_path);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    if out.status.success() {
        let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let got = got["loss"].as_f64().unwrap();
        assert!((got - bce).abs() <= 1e-9 * bce, "big-endian logits misread: loss {got}, want {bce}");
    } else {
        assert!(stderr.contains("logits_be.npy") && stderr.contains(">f4"), "{stderr}");
    }
}

/// Every little-endian dtype segloss reads, written byte by byte here, read from a file (the
/// chunked reader: 70 000 elements cross its 64 KiB chunks) and from bytes: the same values.
#[test]
fn every_little_endian_dtype_is_read_from_a_file_and_from_bytes() {
    let n = 70_000usize;
    let ints: Vec<i64> = (0..n as i64).map(|i| (i * 7919) % 251).collect();
    let cases: Vec<(&str, Vec<u8>, Vec<f64>)> = vec![
        (
            "<f4",
            ints.iter().flat_map(|&v| (v as f32 - 0.5).to_le_bytes()).collect(),
            ints.iter().map(|&v| v as f64 - 0.5).collect(),
        ),
        (
            "<f8",
            ints.iter().flat_map(|&v| (v as f64 * 0.25).to_le_bytes()).collect(),
            ints.iter().map(|&v| v as f64 * 0.25).collect(),
        ),
        // f16 of small integers: the sign bit 0, exponent and mantissa of v (exact below 2048).
        (
            "<f2",
            ints.iter().flat_map(|&v| half::f16::from_f64(v as f64).to_le_bytes()).collect(),
            ints.iter().map(|&v| v as f64).collect(),
        ),
        ("|u1", ints.iter().map(|&v| v as u8).collect(), ints.iter().map(|&v| v as f64).collect()),
        (
            "<u2",
            ints.iter().flat_map(|&v| (v as u16 * 257).to_le_bytes()).collect(),
            ints.iter().map(|&v| (v * 257) as f64).collect(),
        ),
        (
            "<i4",
            ints.iter().flat_map(|&v| (v as i32 - 100).to_le_bytes()).collect(),
            ints.iter().map(|&v| (v - 100) as f64).collect(),
        ),
        (
            "<i8",
            ints.iter().flat_map(|&v| (v - 100_000).to_le_bytes()).collect(),
            ints.iter().map(|&v| (v - 100_000) as f64).collect(),
        ),
    ];
    let dir = std::env::temp_dir().join(format!("segloss-npy-dtypes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (descr, body, want) in cases {
        let bytes = npy_file(descr, &[2, n / 2], &body);
        let path = dir.join(format!("{}.npy", &descr[1..]));
        std::fs::write(&path, &bytes).unwrap();
        for (how, got) in [("file", Npy::read(&path)), ("bytes", Npy::parse(&bytes))] {
            let got = got.unwrap_or_else(|e| panic!("{descr} from {how}: {e}"));
            assert_eq!(got.shape, vec![2, n / 2], "{descr} from {how}");
            assert_eq!(got.to_f64(), want, "{descr} from {how}");
        }
    }
}
