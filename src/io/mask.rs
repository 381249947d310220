//! Reading label masks and predictions from PNG (8- and 16-bit grayscale, palette images as
//! class indices, sub-byte depths unpacked), `.npy` and NIfTI-1 (`.nii`, `.nii.gz`: labels),
//! and writing RGB overlay PNGs.

use super::npy::{Npy, NpyData};
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

/// The size of a mask file, from its header alone (nothing is decoded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    /// Channels (1 for label maps and `[H, W]` scores).
    pub c: usize,
    /// Depth: slices of a 3-D label volume `[D, H, W]` (only from the `*_volume` readers);
    /// 1 for every 2-D image.
    pub d: usize,
    /// Rows.
    pub h: usize,
    /// Columns.
    pub w: usize,
    /// Whether the file holds float scores (a float `.npy`) rather than labels.
    pub scores: bool,
}

impl Probe {
    /// Values the file holds (C·D·H·W), saturating.
    pub fn values(&self) -> u64 {
        (self.c as u64).saturating_mul(self.d as u64).saturating_mul(self.h as u64).saturating_mul(self.w as u64)
    }
}

fn png_reader(path: &Path, max_values: u64) -> Result<png::Reader<std::io::BufReader<std::fs::File>>, String> {
    let (file, _) = super::open_regular(path)?;
    png_reader_from(std::io::BufReader::new(file), max_values)
}

fn png_reader_from<R: std::io::Read>(input: R, max_values: u64) -> Result<png::Reader<R>, String> {
    // The decoder's own allocation cap: a 16-bit image of the budget, plus its metadata.
    let bytes = usize::try_from(max_values.saturating_mul(2).saturating_add(1 << 20)).unwrap_or(usize::MAX);
    let mut decoder = png::Decoder::new_with_limits(input, png::Limits { bytes });
    decoder.set_transformations(png::Transformations::IDENTITY);
    decoder.read_info().map_err(|e| format!("corrupt PNG: {e}"))
}

/// The size of an .npy of `shape`; with `volume`, integer `[D, H, W]` (D > 1) is a 3-D
/// label volume.
fn npy_dims(shape: &[usize], float: bool, volume: bool) -> Result<Probe, String> {
    match (float, shape) {
        (false, [h, w]) | (false, [1, h, w]) => Ok(Probe { c: 1, d: 1, h: *h, w: *w, scores: false }),
        (false, [d, h, w]) if volume => Ok(Probe { c: 1, d: *d, h: *h, w: *w, scores: false }),
        (true, [h, w]) => Ok(Probe { c: 1, d: 1, h: *h, w: *w, scores: true }),
        (true, [c, h, w]) => Ok(Probe { c: *c, d: 1, h: *h, w: *w, scores: true }),
        _ if volume => {
            Err(format!("shape {shape:?}: expected [H, W] or [D, H, W] labels, or [H, W] / [C, H, W] scores"))
        }
        _ => Err(format!("shape {shape:?}: expected [H, W] labels or [H, W] / [C, H, W] scores")),
    }
}

/// The size a mask file declares (.png or .npy), read from its header.
pub fn probe(path: &Path) -> Result<Probe, String> {
    probe_as(path, false)
}

/// [`probe`], an integer `.npy` of shape `[D, H, W]` (D > 1) read as a 3-D label volume.
pub fn probe_volume(path: &Path) -> Result<Probe, String> {
    probe_as(path, true)
}

fn probe_as(path: &Path, volume: bool) -> Result<Probe, String> {
    if super::nifti::is_nifti(path) {
        return npy_dims(&super::nifti::probe(path)?.shape, false, volume);
    }
    match extension(path).as_deref() {
        Some("png") => {
            let reader = png_reader(path, u64::MAX)?;
            let info = reader.info();
            Ok(Probe { c: 1, d: 1, h: info.height as usize, w: info.width as usize, scores: false })
        }
        Some("npy") => {
            let (shape, float) = Npy::probe(path).map_err(|e| e.0)?;
            npy_dims(&shape, float, volume)
        }
        _ => Err("not a .png, .npy, .nii or .nii.gz file".into()),
    }
}

fn extension(path: &Path) -> Option<String> {
    path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase())
}

fn over_budget(p: &Probe, max_values: u64) -> Result<(), String> {
    if p.h == 0 || p.w == 0 || p.c == 0 || p.d == 0 {
        return Err(format!("empty image ({}x{}, {} channels)", p.h, p.w, p.c));
    }
    if p.values() > max_values {
        return Err(format!(
            "{}{}x{}{} = {} values, above the pixel budget of {max_values} (raise it with --max-pixels)",
            if p.d > 1 { format!("{}x", p.d) } else { String::new() },
            p.h,
            p.w,
            if p.c > 1 { format!("x{}", p.c) } else { String::new() },
            p.values()
        ));
    }
    Ok(())
}

/// Reads a PNG: grayscale (1–16 bits) and palette images give their stored values (palette
/// indices, not colours); colour images are rejected.
pub fn read_png(path: &Path) -> Result<Mask, String> {
    read_png_limited(path, u64::MAX)
}

/// [`read_png`], refusing an image whose header declares more than `max_values` pixels
/// before anything is decoded.
pub fn read_png_limited(path: &Path, max_values: u64) -> Result<Mask, String> {
    decode_png(png_reader(path, max_values)?, max_values)
}

/// [`read_png_limited`] on the bytes of a PNG (for fuzzing and in-memory data).
pub fn decode_png_bytes(bytes: &[u8], max_values: u64) -> Result<Mask, String> {
    decode_png(png_reader_from(bytes, max_values)?, max_values)
}

fn decode_png<R: std::io::Read>(mut reader: png::Reader<R>, max_values: u64) -> Result<Mask, String> {
    let (w, h) = (reader.info().width as usize, reader.info().height as usize);
    over_budget(&Probe { c: 1, d: 1, h, w, scores: false }, max_values)?;
    match reader.info().color_type {
        png::ColorType::Grayscale | png::ColorType::Indexed => {}
        other => return Err(format!("{other:?} PNG: a mask must be grayscale or palette (class indices)")),
    }
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).map_err(|e| format!("corrupt PNG: {e}"))?;
    let bits = info.bit_depth as usize;
    let line = info.line_size;
    if buf.len() < line * h || line * 8 < w * bits {
        return Err("corrupt PNG: frame smaller than its header says".into());
    }
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
    read_npy_limited(path, u64::MAX)
}

/// [`read_npy`], refusing more than `max_values` values before reading them. Float64 values
/// outside the f32 range are an error saying so.
pub fn read_npy_limited(path: &Path, max_values: u64) -> Result<Mask, String> {
    read_npy_as(path, max_values, false)
}

fn read_npy_as(path: &Path, max_values: u64, volume: bool) -> Result<Mask, String> {
    let (shape, float) = Npy::probe(path).map_err(|e| e.0)?;
    let p = npy_dims(&shape, float, volume)?;
    over_budget(&p, max_values)?;
    let npy = Npy::read_limited(path, usize::try_from(max_values).unwrap_or(usize::MAX)).map_err(|e| e.0)?;
    if npy.shape != shape {
        return Err("the file changed while it was read".into());
    }
    let Probe { c, d, h, w, .. } = p;
    // The elements are moved, not copied: one array of the file's size at a time. A volume's
    // slices are stacked: D·H rows.
    let widen = |v: Vec<i64>| Ok(Mask::Labels { h: d * h, w, values: v });
    let values: Vec<f32> = match npy.data {
        NpyData::I64(v) => return widen(v),
        NpyData::I32(v) => return widen(v.into_iter().map(i64::from).collect()),
        NpyData::U16(v) => return widen(v.into_iter().map(i64::from).collect()),
        NpyData::U8(v) => return widen(v.into_iter().map(i64::from).collect()),
        NpyData::F32(v) | NpyData::F16(v) => v,
        NpyData::F64(v) => {
            if let Some((i, x)) = v.iter().enumerate().find(|(_, x)| x.is_finite() && x.abs() > f32::MAX as f64) {
                return Err(format!("value {x:e} at flat index {i} is outside the f32 range (|x| <= 3.4e38)"));
            }
            v.into_iter().map(|x| x as f32).collect()
        }
    };
    Ok(Mask::Scores { c, h, w, values })
}

/// Reads a mask by extension (.png, .npy, .nii, .nii.gz).
pub fn read_mask(path: &Path) -> Result<Mask, String> {
    read_mask_limited(path, u64::MAX)
}

/// [`read_mask`] with a budget of values (H·W, times C for scores) checked on the header.
pub fn read_mask_limited(path: &Path, max_values: u64) -> Result<Mask, String> {
    read_mask_as(path, max_values, false)
}

/// A NIfTI-1 label image or (with `volume`) volume, its slices stacked as `.npy` volumes are.
fn read_nifti(path: &Path, max_values: u64, volume: bool) -> Result<Mask, String> {
    let p = npy_dims(&super::nifti::probe(path)?.shape, false, volume)?;
    over_budget(&p, max_values)?;
    let (shape, values) = super::nifti::read_labels(path, max_values)?;
    if npy_dims(&shape, false, volume)? != p {
        return Err("the file changed while it was read".into());
    }
    Ok(Mask::Labels { h: p.d * p.h, w: p.w, values })
}

fn read_mask_as(path: &Path, max_values: u64, volume: bool) -> Result<Mask, String> {
    if super::nifti::is_nifti(path) {
        return read_nifti(path, max_values, volume);
    }
    match extension(path).as_deref() {
        Some("png") => read_png_limited(path, max_values),
        Some("npy") => read_npy_as(path, max_values, volume),
        _ => Err("not a .png, .npy, .nii or .nii.gz file".into()),
    }
}

/// [`read_mask_limited`], an integer `.npy` of shape `[D, H, W]` (D > 1) read as a 3-D label
/// volume: `Mask::Labels` with its D slices stacked (`h` = D·H rows; [`probe_volume`] gives
/// D). Everything else as [`read_mask_limited`].
pub fn read_mask_volume_limited(path: &Path, max_values: u64) -> Result<Mask, String> {
    read_mask_as(path, max_values, true)
}

/// Writes an 8-bit RGB PNG.
pub fn write_rgb_png(path: &Path, w: usize, h: usize, rgb: &[u8]) -> Result<(), String> {
    let mut file = super::AtomicFile::create(path)?;
    let mut enc = png::Encoder::new(file.writer(), w as u32, h as u32);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header().map_err(|e| format!("{}: error writing: {e}", path.display()))?;
    writer.write_image_data(rgb).map_err(|e| format!("{}: error writing: {e}", path.display()))?;
    writer.finish().map_err(|e| format!("{}: error writing: {e}", path.display()))?;
    file.commit()
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
