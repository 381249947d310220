//! Reading label masks and predictions from PNG (8- and 16-bit grayscale, palette images as
//! class indices, sub-byte depths unpacked) and `.npy`, and writing RGB overlay PNGs.

use super::npy::Npy;
use std::path::Path;

/// An image of values: class indices (hard) or scores per class (soft).
#[derive(Debug, Clone, PartialEq)]
pub enum Mask {
    /// A label map `[H, W]`.
    Labels {
        /// Rows.
        h: usize,
        /// Columns.
        w: usize,
        /// Values, row-major.
        values: Vec<i64>,
    },
    /// Soft predictions: `[H, W]` (binary probabilities or logits) or `[C, H, W]`.
    Scores {
        /// Channels (1 for `[H, W]`).
        c: usize,
        /// Rows.
        h: usize,
        /// Columns.
        w: usize,
        /// Values, row-major `[C, H, W]`.
        values: Vec<f32>,
    },
}

impl Mask {
    /// (H, W).
    pub fn size(&self) -> (usize, usize) {
        match self {
            Mask::Labels { h, w, .. } | Mask::Scores { h, w, .. } => (*h, *w),
        }
    }
}

/// Reads a PNG: grayscale (1–16 bits) and palette images give their stored values (palette
/// indices, not colours); colour images are rejected.
pub fn read_png(path: &Path) -> Result<Mask, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
    decoder.set_transformations(png::Transformations::IDENTITY);
    let mut reader = decoder.read_info().map_err(|e| format!("corrupt PNG: {e}"))?;
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).map_err(|e| format!("corrupt PNG: {e}"))?;
    let (w, h) = (info.width as usize, info.height as usize);
    match info.color_type {
        png::ColorType::Grayscale | png::ColorType::Indexed => {}
        other => return Err(format!("{other:?} PNG: a mask must be grayscale or palette (class indices)")),
    }
    let bits = info.bit_depth as usize;
    let line = info.line_size;
    let mut values = Vec::with_capacity(w * h);
    for row in buf[..line * h].chunks(line) {
        for x in 0..w {
            let v = match bits {
                16 => u16::from_be_bytes([row[2 * x], row[2 * x + 1]]) as i64,
                8 => row[x] as i64,
                b => {
                    let per_byte = 8 / b;
                    let byte = row[x / per_byte];
                    let shift = 8 - b * (x % per_byte + 1);
                    ((byte >> shift) & ((1u8 << b) - 1)) as i64
                }
            };
            values.push(v);
        }
    }
    Ok(Mask::Labels { h, w, values })
}

/// Reads a `.npy`: integer `[H, W]` (or `[1, H, W]`) → labels; float `[H, W]` or `[C, H, W]` → scores.
pub fn read_npy(path: &Path) -> Result<Mask, String> {
    let npy = Npy::read(path).map_err(|e| e.0)?;
    let dims: Vec<usize> = match npy.shape.as_slice() {
        [1, rest @ ..] if rest.len() == 2 && !npy.is_float() => rest.to_vec(),
        s => s.to_vec(),
    };
    match (npy.to_i64(), dims.as_slice()) {
        (Some(values), [h, w]) => Ok(Mask::Labels { h: *h, w: *w, values }),
        (None, [h, w]) => {
            Ok(Mask::Scores { c: 1, h: *h, w: *w, values: npy.to_f64().iter().map(|&v| v as f32).collect() })
        }
        (None, [c, h, w]) => {
            Ok(Mask::Scores { c: *c, h: *h, w: *w, values: npy.to_f64().iter().map(|&v| v as f32).collect() })
        }
        _ => Err(format!("shape {:?}: expected [H, W] labels or [H, W] / [C, H, W] scores", npy.shape)),
    }
}

/// Reads a mask by extension (.png or .npy).
pub fn read_mask(path: &Path) -> Result<Mask, String> {
    match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("png") => read_png(path),
        Some("npy") => read_npy(path),
        _ => Err("not a .png or .npy file".into()),
    }
}

/// Writes an 8-bit RGB PNG.
pub fn write_rgb_png(path: &Path, w: usize, h: usize, rgb: &[u8]) -> Result<(), String> {
    let file = std::fs::File::create(path).map_err(|e| e.to_string())?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), w as u32, h as u32);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header().map_err(|e| e.to_string())?;
    writer.write_image_data(rgb).map_err(|e| e.to_string())
}

/// Writes a grayscale PNG of 8 or 16 bits, or a palette PNG (values are indices).
pub fn write_gray_png(path: &Path, w: usize, h: usize, values: &[u16], depth: u8, palette: bool) -> Result<(), String> {
    let file = std::fs::File::create(path).map_err(|e| e.to_string())?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), w as u32, h as u32);
    let data: Vec<u8> = if depth == 16 {
        enc.set_depth(png::BitDepth::Sixteen);
        values.iter().flat_map(|v| v.to_be_bytes()).collect()
    } else {
        enc.set_depth(png::BitDepth::Eight);
        values.iter().map(|&v| v as u8).collect()
    };
    if palette {
        enc.set_color(png::ColorType::Indexed);
        enc.set_palette((0..=255u8).flat_map(|i| [i, i.wrapping_mul(37), i.wrapping_mul(91)]).collect::<Vec<u8>>());
    } else {
        enc.set_color(png::ColorType::Grayscale);
    }
    let mut writer = enc.write_header().map_err(|e| e.to_string())?;
    writer.write_image_data(&data).map_err(|e| e.to_string())
}
