//! Files for the command-line tests: .npy arrays, PNGs with any header (lying or not), and
//! real zlib "bombs" (tiny files that inflate to a huge image).
#![allow(dead_code)]

use segloss::io::npy::{Npy, NpyData};
use std::path::{Path, PathBuf};
use std::process::Command;

pub fn segloss() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_segloss"));
    c.env("XDG_RUNTIME_DIR", std::env::var("XDG_RUNTIME_DIR").unwrap_or_else(|_| "/tmp".into()));
    c
}

/// A fresh folder under the system's temporary folder.
pub fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("segloss-hostile-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn npy_f32(path: &Path, shape: &[usize], v: Vec<f32>) {
    std::fs::write(path, Npy { shape: shape.to_vec(), data: NpyData::F32(v) }.to_bytes()).unwrap();
}

pub fn npy_f64(path: &Path, shape: &[usize], v: Vec<f64>) {
    std::fs::write(path, Npy { shape: shape.to_vec(), data: NpyData::F64(v) }.to_bytes()).unwrap();
}

pub fn npy_i64(path: &Path, shape: &[usize], v: Vec<i64>) {
    std::fs::write(path, Npy { shape: shape.to_vec(), data: NpyData::I64(v) }.to_bytes()).unwrap();
}

pub fn npy_u8(path: &Path, shape: &[usize], v: Vec<u8>) {
    std::fs::write(path, Npy { shape: shape.to_vec(), data: NpyData::U8(v) }.to_bytes()).unwrap();
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let mut body = kind.to_vec();
    body.extend_from_slice(data);
    out.extend_from_slice(&body);
    out.extend_from_slice(&crc32(&body).to_be_bytes());
}

/// A grayscale PNG whose header says `w`×`h` at `bits` bits, with `zlib` as its image data.
pub fn png_with(w: u32, h: u32, bits: u8, zlib: &[u8]) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[bits, 0, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", zlib);
    chunk(&mut out, b"IEND", &[]);
    out
}

/// A zlib stream of `n` zero bytes, compressed about 160:1 (fixed Huffman codes: one literal 0,
/// then copies of 258 bytes at distance 1).
pub fn zlib_zeros(n: usize) -> Vec<u8> {
    struct Bits {
        out: Vec<u8>,
        acc: u32,
        used: u32,
    }
    impl Bits {
        fn put(&mut self, value: u32, count: u32) {
            // LSB first, as deflate packs its header bits and extra bits.
            for i in 0..count {
                self.acc |= ((value >> i) & 1) << self.used;
                self.used += 1;
                if self.used == 8 {
                    self.out.push(self.acc as u8);
                    self.acc = 0;
                    self.used = 0;
                }
            }
        }
        /// A Huffman code, most significant bit first.
        fn code(&mut self, code: u32, len: u32) {
            for i in (0..len).rev() {
                self.put((code >> i) & 1, 1);
            }
        }
    }
    let mut b = Bits { out: vec![0x78, 0x01], acc: 0, used: 0 };
    b.put(1, 1); // final block
    b.put(1, 2); // fixed Huffman
    let mut left = n;
    if left > 0 {
        b.code(0x30, 8); // literal 0
        left -= 1;
    }
    while left >= 258 {
        b.code(0xC5, 8); // length code 285 = 258 bytes
        b.code(0, 5); // distance code 0 = distance 1
        left -= 258;
    }
    for _ in 0..left {
        b.code(0x30, 8);
    }
    b.code(0, 7); // end of block
    if b.used > 0 {
        b.out.push(b.acc as u8);
    }
    // Adler-32 of n zeros: a = 1, b = n mod 65521.
    let adler = ((n % 65521) as u32) << 16 | 1;
    b.out.extend_from_slice(&adler.to_be_bytes());
    b.out
}

/// A PNG of `w`×`h` zero pixels (8 bits) that inflates from a tiny file.
pub fn png_bomb(w: u32, h: u32) -> Vec<u8> {
    png_with(w, h, 8, &zlib_zeros((w as usize + 1) * h as usize))
}

/// Runs a command to completion within `secs` seconds (a hang is a test failure, not a
/// hung test run): (exit code, stdout, stderr).
pub fn run_within(cmd: &mut Command, secs: u64) -> (Option<i32>, String, String) {
    use std::io::Read;
    let mut child = cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        s
    });
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed().as_secs() >= secs {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the command did not finish within {secs} s: {cmd:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let out = String::from_utf8_lossy(&t_out.join().unwrap()).into_owned();
    let err = String::from_utf8_lossy(&t_err.join().unwrap()).into_owned();
    (status.code(), out, err)
}

/// The error contract: exit 1, one line on stderr after filtering driver noise, no panic.
pub fn assert_error(code: Option<i32>, stderr: &str, needles: &[&str]) {
    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("segloss")).collect();
    assert_eq!(code, Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!lines.is_empty(), "no segloss error line in: {stderr}");
    for n in needles {
        assert!(lines.iter().any(|l| l.contains(n)), "'{n}' missing from: {stderr}");
    }
}
