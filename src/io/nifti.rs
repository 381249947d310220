//! NIfTI-1 label volumes (`.nii`, `.nii.gz`): the single-file form (magic `n+1`), either byte
//! order, 2-D or 3-D, integer voxels or floats holding whole numbers, unscaled. Our own small
//! reader rather than a crate: it checks every declared size (dims, voxel offset, data length,
//! the pixel budget) before it allocates, and reads only what a label volume needs.
//!
//! Layout: a 348-byte header (`sizeof_hdr` = 348 tells the byte order), `dim[0..8]` (i16 at
//! 40), `datatype` and `bitpix` (i16 at 70, 72), `vox_offset` (f32 at 108), `scl_slope`,
//! `scl_inter` (f32 at 112, 116), magic at 344; the voxels from `vox_offset`, x fastest, so
//! the data of a volume `(nx, ny, nz)` is the row-major array `[nz, ny, nx]` that is returned.
//! `pixdim` (the voxel spacing) is not applied: `segloss eval --spacing` takes it.

use std::io::Read;
use std::path::Path;

const HEADER: usize = 348;

/// Whether the file name says NIfTI (`.nii` or `.nii.gz`, any case).
pub fn is_nifti(path: &Path) -> bool {
    let name = path.file_name().map(|n| n.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    name.ends_with(".nii") || name.ends_with(".nii.gz")
}

/// What the header declares.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    /// `[nz, ny, nx]` for a volume (nz > 1), `[ny, nx]` for an image.
    pub shape: Vec<usize>,
    /// NIfTI datatype code.
    datatype: i16,
    /// Bytes per voxel.
    size: usize,
    little: bool,
    vox_offset: usize,
}

impl Header {
    /// Voxels (saturating).
    pub fn voxels(&self) -> u64 {
        self.shape.iter().fold(1u64, |a, &d| a.saturating_mul(d as u64))
    }
}

fn open(path: &Path) -> Result<(Box<dyn Read>, u64), String> {
    let (file, len) = super::open_regular(path)?;
    let gz = path.file_name().is_some_and(|n| n.to_string_lossy().to_ascii_lowercase().ends_with(".gz"));
    let reader: Box<dyn Read> = if gz {
        Box::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file)))
    } else {
        Box::new(std::io::BufReader::new(file))
    };
    // The length bounds the data only for an uncompressed file.
    Ok((reader, if gz { u64::MAX } else { len }))
}

fn read_header(r: &mut dyn Read) -> Result<Header, String> {
    let mut h = [0u8; HEADER];
    r.read_exact(&mut h).map_err(|e| format!("not a NIfTI-1 file: the 348-byte header cannot be read ({e})"))?;
    let little =
        match (i32::from_le_bytes(h[0..4].try_into().unwrap()), i32::from_be_bytes(h[0..4].try_into().unwrap())) {
            (348, _) => true,
            (_, 348) => false,
            (540, _) | (_, 540) => return Err("a NIfTI-2 header: only NIfTI-1 is read".into()),
            (v, _) => return Err(format!("not a NIfTI-1 file: sizeof_hdr is {v}, not 348")),
        };
    let i16_at = |o: usize| {
        let b = [h[o], h[o + 1]];
        if little {
            i16::from_le_bytes(b)
        } else {
            i16::from_be_bytes(b)
        }
    };
    let f32_at = |o: usize| {
        let b = h[o..o + 4].try_into().unwrap();
        if little {
            f32::from_le_bytes(b)
        } else {
            f32::from_be_bytes(b)
        }
    };
    match &h[344..348] {
        b"n+1\0" => {}
        b"ni1\0" => return Err("a NIfTI-1 .hdr/.img pair: only the single-file form (.nii) is read".into()),
        m => return Err(format!("not a NIfTI-1 file: magic {m:?}, not \"n+1\"")),
    }
    let ndim = i16_at(40);
    if !(1..=7).contains(&ndim) {
        return Err(format!("dim[0] = {ndim}: the number of dimensions must be 1..=7"));
    }
    let dims: Vec<i16> = (1..=ndim as usize).map(|k| i16_at(40 + 2 * k)).collect();
    if let Some((k, d)) = dims.iter().enumerate().find(|(_, &d)| d < 1) {
        return Err(format!("dim[{}] = {d}: every dimension must be >= 1", k + 1));
    }
    if dims.len() > 3 && dims[3..].iter().any(|&d| d > 1) {
        return Err(format!("dims {dims:?}: a label volume has at most 3 dimensions (a time series is not read)"));
    }
    let at = |k: usize| dims.get(k).map_or(1, |&d| d as usize);
    let (nx, ny, nz) = (at(0), at(1), at(2));
    let shape = if nz > 1 { vec![nz, ny, nx] } else { vec![ny, nx] };
    let datatype = i16_at(70);
    let size = match datatype {
        2 | 256 => 1,
        4 | 512 => 2,
        8 | 16 | 768 => 4,
        64 | 1024 | 1280 => 8,
        other => return Err(format!("datatype {other}: labels must be integers or whole-number floats")),
    };
    let bitpix = i16_at(72);
    if bitpix as usize != 8 * size {
        return Err(format!("bitpix {bitpix} does not match datatype {datatype} ({} bits)", 8 * size));
    }
    let (slope, inter) = (f32_at(112), f32_at(116));
    if slope != 0.0 && (slope != 1.0 || inter != 0.0) {
        return Err(format!("scl_slope {slope}, scl_inter {inter}: scaled values are not labels"));
    }
    let offset = f32_at(108);
    if !(offset >= 352.0 && offset <= (1u32 << 24) as f32 && offset.fract() == 0.0) {
        return Err(format!(
            "vox_offset {offset}: must be a whole number of bytes from 352 (the header and its extension flag)"
        ));
    }
    Ok(Header { shape, datatype, size, little, vox_offset: offset as usize })
}

/// The header of a `.nii` / `.nii.gz` (nothing else is read).
pub fn probe(path: &Path) -> Result<Header, String> {
    let (mut r, _) = open(path)?;
    read_header(&mut r)
}

/// The labels of a `.nii` / `.nii.gz`: its header's shape and the voxels as i64, refusing
/// more than `max_values` voxels before reading them.
pub fn read_labels(path: &Path, max_values: u64) -> Result<(Vec<usize>, Vec<i64>), String> {
    let (mut r, len) = open(path)?;
    read_from(&mut r, len, max_values)
}

/// [`read_labels`] of the bytes of a file (gzip-compressed when they start with its magic).
pub fn parse(bytes: &[u8], max_values: u64) -> Result<(Vec<usize>, Vec<i64>), String> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        read_from(&mut flate2::read::GzDecoder::new(bytes), u64::MAX, max_values)
    } else {
        read_from(&mut { bytes }, bytes.len() as u64, max_values)
    }
}

/// The header and the voxels from `r`; `len` bounds the bytes it can hold (`u64::MAX`:
/// unknown, as for a compressed stream).
fn read_from(r: &mut dyn Read, len: u64, max_values: u64) -> Result<(Vec<usize>, Vec<i64>), String> {
    let h = read_header(r)?;
    if h.voxels() > max_values {
        return Err(format!("{:?} = {} voxels, above the pixel budget of {max_values}", h.shape, h.voxels()));
    }
    let bytes = h.voxels().checked_mul(h.size as u64).ok_or("the data size overflows")?;
    let end = (h.vox_offset as u64).saturating_add(bytes);
    if end > len {
        return Err(format!("truncated: the header declares {end} bytes, the file has {len}"));
    }
    std::io::copy(&mut r.take((h.vox_offset - HEADER) as u64), &mut std::io::sink())
        .map_err(|e| format!("reading: {e}"))?;
    let mut data = Vec::with_capacity(bytes as usize);
    r.take(bytes).read_to_end(&mut data).map_err(|e| format!("reading the voxels: {e}"))?;
    if (data.len() as u64) < bytes {
        return Err(format!("truncated: {} of the {bytes} data bytes", data.len()));
    }
    let values = decode(&h, &data)?;
    Ok((h.shape, values))
}

fn decode(h: &Header, data: &[u8]) -> Result<Vec<i64>, String> {
    let word = |c: &[u8]| -> [u8; 8] {
        let mut b = [0u8; 8];
        if h.little {
            b[..c.len()].copy_from_slice(c);
        } else {
            for (k, &x) in c.iter().rev().enumerate() {
                b[k] = x;
            }
        }
        b
    };
    let chunks = data.chunks_exact(h.size);
    let bits = |c: &[u8]| u64::from_le_bytes(word(c));
    let whole = |k: usize, x: f64| -> Result<i64, String> {
        if x.is_finite() && x.fract() == 0.0 && x.abs() < 9.0e15 {
            Ok(x as i64)
        } else {
            Err(format!("voxel {k} (flat, x fastest) holds {x}: not a label (a whole number)"))
        }
    };
    match h.datatype {
        2 => Ok(chunks.map(|c| c[0] as i64).collect()),
        256 => Ok(chunks.map(|c| c[0] as i8 as i64).collect()),
        4 => Ok(chunks.map(|c| bits(c) as u16 as i16 as i64).collect()),
        512 => Ok(chunks.map(|c| bits(c) as u16 as i64).collect()),
        8 => Ok(chunks.map(|c| bits(c) as u32 as i32 as i64).collect()),
        768 => Ok(chunks.map(|c| bits(c) as u32 as i64).collect()),
        1024 => Ok(chunks.map(|c| bits(c) as i64).collect()),
        1280 => chunks
            .enumerate()
            .map(|(k, c)| {
                i64::try_from(bits(c)).map_err(|_| format!("voxel {k} holds {}: above the i64 range", bits(c)))
            })
            .collect(),
        16 => chunks.enumerate().map(|(k, c)| whole(k, f32::from_bits(bits(c) as u32) as f64)).collect(),
        _ => chunks.enumerate().map(|(k, c)| whole(k, f64::from_bits(bits(c)))).collect(),
    }
}
