//! A small reader of NumPy `.npy` files (format versions 1–3, C order, little-endian or
//! single-byte dtypes): enough for logits, probabilities and label maps.

use std::fmt;

/// The array's elements.
#[derive(Debug, Clone, PartialEq)]
pub enum NpyData {
    /// float32
    F32(Vec<f32>),
    /// float64
    F64(Vec<f64>),
    /// float16, widened to f32
    F16(Vec<f32>),
    /// uint8 / bool
    U8(Vec<u8>),
    /// uint16
    U16(Vec<u16>),
    /// int32
    I32(Vec<i32>),
    /// int64
    I64(Vec<i64>),
}

/// A parsed `.npy` array.
#[derive(Debug, Clone, PartialEq)]
pub struct Npy {
    /// The shape.
    pub shape: Vec<usize>,
    /// The elements, row-major.
    pub data: NpyData,
}

/// Why a `.npy` file could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NpyError(pub String);

impl fmt::Display for NpyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NpyError {}

fn err<T>(msg: impl Into<String>) -> Result<T, NpyError> {
    Err(NpyError(msg.into()))
}

/// The value of `key` in the header dict (text up to the next top-level comma).
fn header_field<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let at = header.find(&format!("'{key}'"))?;
    let rest = header[at + key.len() + 2..].trim_start().strip_prefix(':')?.trim_start();
    if let Some(inner) = rest.strip_prefix('(') {
        return inner.find(')').map(|end| &inner[..end]);
    }
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    Some(rest[..end].trim())
}

/// The largest header accepted (NumPy itself refuses headers above 10 000 bytes by default).
const MAX_HEADER: usize = 1 << 16;

/// Opens a regular file and reads its header (bounded); the reader is left at the data.
fn open_header(
    path: &std::path::Path,
) -> Result<(Header, std::io::BufReader<std::io::Take<std::fs::File>>, u64), NpyError> {
    use std::io::Read;
    let (file, file_len) = super::open_regular(path).map_err(NpyError)?;
    // At most the bytes the file has: a growing or lying file cannot make us read more.
    let mut file = std::io::BufReader::new(file.take(file_len));
    // 10 bytes of magic, version and (version 1) header length; 2 more for versions 2 and 3.
    let mut prefix = [0u8; 12];
    let mut got = read_up_to(&mut file, &mut prefix[..10]).map_err(|e| NpyError(format!("reading: {e}")))?;
    if got == 10 && matches!(prefix[6], 2 | 3) {
        got += read_up_to(&mut file, &mut prefix[10..]).map_err(|e| NpyError(format!("reading: {e}")))?;
    }
    let mut head = prefix[..got].to_vec();
    let header = Header::parse(&prefix[..got], |start, len| {
        // The declared header length: bounded, and within the file.
        if len > MAX_HEADER || (start + len) as u64 > file_len {
            return Err(NpyError(format!("truncated or oversized .npy header ({len} bytes declared)")));
        }
        let mut rest = vec![0u8; start + len - head.len()];
        file.read_exact(&mut rest).map_err(|e| NpyError(format!("reading the .npy header: {e}")))?;
        head.extend_from_slice(&rest);
        Ok(&head[start..start + len])
    })?;
    Ok((header, file, file_len))
}

/// Reads until `buf` is full or the input ends; the bytes read.
fn read_up_to(r: &mut impl std::io::Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// A parsed `.npy` header.
struct Header {
    descr: String,
    shape: Vec<usize>,
    count: usize,
    elem_size: usize,
    data_start: usize,
}

impl Header {
    /// Parses the header from the file's first bytes (`prefix`, up to 12); `text(start, len)`
    /// gives the header text's bytes.
    fn parse<'b>(
        prefix: &[u8],
        text: impl FnOnce(usize, usize) -> Result<&'b [u8], NpyError>,
    ) -> Result<Header, NpyError> {
        if prefix.len() < 10 || &prefix[..6] != b"\x93NUMPY" {
            return err("not a .npy file (bad magic)");
        }
        let (len, start) = match prefix[6] {
            1 => (u16::from_le_bytes([prefix[8], prefix[9]]) as usize, 10),
            2 | 3 => {
                if prefix.len() < 12 {
                    return err("truncated .npy header");
                }
                (u32::from_le_bytes([prefix[8], prefix[9], prefix[10], prefix[11]]) as usize, 12)
            }
            v => return err(format!("unsupported .npy version {v}")),
        };
        let header = text(start, len)?;
        let header = std::str::from_utf8(header).map_err(|_| NpyError("the .npy header is not text".into()))?;
        let descr = header_field(header, "descr").ok_or_else(|| NpyError("the .npy header has no descr".into()))?;
        let descr = descr.trim_matches(|c| c == '\'' || c == '"');
        if header_field(header, "fortran_order") == Some("True") {
            return err("Fortran-ordered arrays are not supported (save with C order)");
        }
        let shape_text =
            header_field(header, "shape").ok_or_else(|| NpyError("the .npy header has no shape".into()))?;
        let shape: Vec<usize> = shape_text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.trim_end_matches('L').parse::<usize>())
            .collect::<Result<_, _>>()
            .map_err(|_| NpyError(format!("bad shape ({shape_text})")))?;
        let count = shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .ok_or_else(|| NpyError(format!("shape {shape:?} too large")))?;
        let elem_size = match descr {
            "<f4" | "<i4" => 4,
            "<f8" | "<i8" => 8,
            "<f2" | "<u2" => 2,
            "|u1" | "<u1" | "|b1" => 1,
            other => return err(format!("unsupported dtype {other} (float16/32/64, uint8/16, int32/64 are)")),
        };
        Ok(Header { descr: descr.to_string(), shape, count, elem_size, data_start: start + len })
    }

    fn body_bytes(&self) -> Result<usize, NpyError> {
        self.count.checked_mul(self.elem_size).ok_or_else(|| NpyError(format!("shape {:?} too large", self.shape)))
    }

    /// The elements from exactly `body_bytes()` bytes.
    fn decode(self, body: &[u8]) -> Result<Npy, NpyError> {
        let data = self.decode_data(body);
        Ok(Npy { shape: self.shape, data })
    }

    /// An empty array of this dtype with room for `n` elements.
    fn empty(&self, n: usize) -> NpyData {
        match self.descr.as_str() {
            "<f4" => NpyData::F32(Vec::with_capacity(n)),
            "<f8" => NpyData::F64(Vec::with_capacity(n)),
            "<f2" => NpyData::F16(Vec::with_capacity(n)),
            "<u2" => NpyData::U16(Vec::with_capacity(n)),
            "<i4" => NpyData::I32(Vec::with_capacity(n)),
            "<i8" => NpyData::I64(Vec::with_capacity(n)),
            _ => NpyData::U8(Vec::with_capacity(n)),
        }
    }

    /// The elements of whole-element bytes.
    fn decode_data(&self, body: &[u8]) -> NpyData {
        match self.descr.as_str() {
            "<f4" => NpyData::F32(body.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()),
            "<f8" => NpyData::F64(
                body.chunks_exact(8)
                    .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                    .collect(),
            ),
            "<f2" => NpyData::F16(body.chunks_exact(2).map(|c| f16_to_f32(u16::from_le_bytes([c[0], c[1]]))).collect()),
            "<u2" => NpyData::U16(body.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect()),
            "<i4" => NpyData::I32(body.chunks_exact(4).map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()),
            "<i8" => NpyData::I64(
                body.chunks_exact(8)
                    .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                    .collect(),
            ),
            _ => NpyData::U8(body.to_vec()),
        }
    }
}

impl NpyData {
    /// Appends elements of the same dtype (a chunk decoded by the reader).
    fn append(&mut self, more: NpyData) {
        match (self, more) {
            (NpyData::F32(a), NpyData::F32(b)) | (NpyData::F16(a), NpyData::F16(b)) => a.extend(b),
            (NpyData::F64(a), NpyData::F64(b)) => a.extend(b),
            (NpyData::U8(a), NpyData::U8(b)) => a.extend(b),
            (NpyData::U16(a), NpyData::U16(b)) => a.extend(b),
            (NpyData::I32(a), NpyData::I32(b)) => a.extend(b),
            (NpyData::I64(a), NpyData::I64(b)) => a.extend(b),
            _ => unreachable!("one dtype per array"),
        }
    }
}

impl Npy {
    /// Parses the bytes of a `.npy` file.
    pub fn parse(bytes: &[u8]) -> Result<Npy, NpyError> {
        let header = Header::parse(bytes, |start, len| {
            bytes.get(start..start + len).ok_or_else(|| NpyError("truncated .npy header".into()))
        })?;
        let body = &bytes[header.data_start..];
        let need = header.body_bytes()?;
        let body = body.get(..need).ok_or_else(|| {
            NpyError(format!(
                "truncated data: {} bytes for {} elements of {} bytes",
                body.len(),
                header.count,
                header.elem_size
            ))
        })?;
        header.decode(body)
    }

    /// Reads and parses a file: only a regular file (or a link to one) is opened, the header is
    /// read first and then exactly the body it declares, once that fits in the file.
    pub fn read(path: &std::path::Path) -> Result<Npy, NpyError> {
        Npy::read_limited(path, usize::MAX)
    }

    /// [`Npy::read`], refusing arrays of more than `max_elements` elements before reading them.
    pub fn read_limited(path: &std::path::Path, max_elements: usize) -> Result<Npy, NpyError> {
        use std::io::Read;
        let (header, mut file, file_len) = open_header(path)?;
        if header.count > max_elements {
            return err(format!(
                "shape {:?}: {} elements, more than the limit of {max_elements}",
                header.shape, header.count
            ));
        }
        let need = header.body_bytes()?;
        let have = file_len.saturating_sub(header.data_start as u64);
        if (need as u64) > have {
            return err(format!(
                "truncated data: {have} bytes for {} elements of {} bytes",
                header.count, header.elem_size
            ));
        }
        // Decoded a chunk at a time: the raw bytes are never held whole beside the values.
        let chunk = (1 << 16) / header.elem_size * header.elem_size;
        let mut buf = vec![0u8; chunk.min(need)];
        let mut data = header.empty(header.count);
        let mut left = need;
        while left > 0 {
            let k = left.min(buf.len());
            file.read_exact(&mut buf[..k]).map_err(|e| NpyError(format!("reading the .npy data: {e}")))?;
            data.append(header.decode_data(&buf[..k]));
            left -= k;
        }
        Ok(Npy { shape: header.shape, data })
    }

    /// The shape of a `.npy` file and whether its elements are floating point, from its header
    /// alone (the data is not read).
    pub fn probe(path: &std::path::Path) -> Result<(Vec<usize>, bool), NpyError> {
        let (header, _, _) = open_header(path)?;
        let float = header.descr.contains('f');
        Ok((header.shape, float))
    }

    /// Whether the elements are floating point.
    pub fn is_float(&self) -> bool {
        matches!(self.data, NpyData::F32(_) | NpyData::F64(_) | NpyData::F16(_))
    }

    /// The elements as f64.
    pub fn to_f64(&self) -> Vec<f64> {
        match &self.data {
            NpyData::F32(v) | NpyData::F16(v) => v.iter().map(|&x| x as f64).collect(),
            NpyData::F64(v) => v.clone(),
            NpyData::U8(v) => v.iter().map(|&x| x as f64).collect(),
            NpyData::U16(v) => v.iter().map(|&x| x as f64).collect(),
            NpyData::I32(v) => v.iter().map(|&x| x as f64).collect(),
            NpyData::I64(v) => v.iter().map(|&x| x as f64).collect(),
        }
    }

    /// Integer elements as i64 (None for float arrays).
    pub fn to_i64(&self) -> Option<Vec<i64>> {
        Some(match &self.data {
            NpyData::U8(v) => v.iter().map(|&x| x as i64).collect(),
            NpyData::U16(v) => v.iter().map(|&x| x as i64).collect(),
            NpyData::I32(v) => v.iter().map(|&x| x as i64).collect(),
            NpyData::I64(v) => v.clone(),
            _ => return None,
        })
    }

    /// Serialises the array (for tests, fixtures and gradients); float16 is written as float32.
    pub fn to_bytes(&self) -> Vec<u8> {
        let (descr, body): (&str, Vec<u8>) = match &self.data {
            NpyData::F32(v) => ("<f4", v.iter().flat_map(|x| x.to_le_bytes()).collect()),
            NpyData::F64(v) => ("<f8", v.iter().flat_map(|x| x.to_le_bytes()).collect()),
            NpyData::U8(v) => ("|u1", v.clone()),
            NpyData::U16(v) => ("<u2", v.iter().flat_map(|x| x.to_le_bytes()).collect()),
            NpyData::I32(v) => ("<i4", v.iter().flat_map(|x| x.to_le_bytes()).collect()),
            NpyData::I64(v) => ("<i8", v.iter().flat_map(|x| x.to_le_bytes()).collect()),
            // float16 arrays are held widened: written as float32 (the same values).
            NpyData::F16(v) => ("<f4", v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        };
        let shape = match self.shape.len() {
            1 => format!("({},)", self.shape[0]),
            _ => format!("({})", self.shape.iter().map(usize::to_string).collect::<Vec<_>>().join(", ")),
        };
        let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(&body);
        out
    }
}

/// IEEE half to single precision.
fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let frac = (h & 0x3ff) as u32;
    let bits = match (exp, frac) {
        (0, 0) => sign,
        (0, f) => {
            // subnormal: normalise
            let mut e = 127 - 15 + 1;
            let mut f = f;
            while f & 0x400 == 0 {
                f <<= 1;
                e -= 1;
            }
            sign | (e << 23) | ((f & 0x3ff) << 13)
        }
        (0x1f, f) => sign | 0x7f80_0000 | (f << 13),
        (e, f) => sign | ((e + 127 - 15) << 23) | (f << 13),
    };
    f32::from_bits(bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out `data` a few bytes at a time after the errors in `errors`.
    struct Flaky {
        errors: Vec<std::io::ErrorKind>,
        data: Vec<u8>,
    }

    impl std::io::Read for Flaky {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if !self.errors.is_empty() {
                let kind = self.errors.remove(0);
                return Err(std::io::Error::new(kind, "flaky"));
            }
            let k = buf.len().min(self.data.len()).min(3);
            buf[..k].copy_from_slice(&self.data[..k]);
            self.data.drain(..k);
            Ok(k)
        }
    }

    /// An interrupted read is retried (a signal is not an error); any other error ends the
    /// read with that error, at once (the data after it is never read); a short input gives
    /// the bytes it has.
    #[test]
    fn interrupted_reads_are_retried_and_other_errors_returned() {
        use std::io::ErrorKind::{Interrupted, Other};
        let mut buf = [0u8; 8];
        let mut r = Flaky { errors: vec![Interrupted, Interrupted], data: (1..=8).collect() };
        assert_eq!(read_up_to(&mut r, &mut buf).unwrap(), 8);
        assert_eq!(buf, [1, 2, 3, 4, 5, 6, 7, 8]);
        let mut r = Flaky { errors: vec![Other], data: vec![9; 8] };
        assert_eq!(read_up_to(&mut r, &mut buf).unwrap_err().kind(), Other);
        assert_eq!(r.data.len(), 8, "read on after an error");
        let mut r = Flaky { errors: vec![], data: vec![5; 5] };
        assert_eq!(read_up_to(&mut r, &mut buf).unwrap(), 5);
    }

    /// The shape is written as a Python tuple, as numpy reads it: `(5,)` for one dimension
    /// (`(5)` is an int, which numpy refuses), `(2, 3)` otherwise; the header is padded so that
    /// the data starts on a multiple of 64 bytes.
    #[test]
    fn shapes_are_written_as_python_tuples() {
        for (shape, want) in
            [(vec![5], "'shape': (5,), }"), (vec![2, 3], "'shape': (2, 3), }"), (vec![], "'shape': (), }")]
        {
            let n = shape.iter().product::<usize>();
            let bytes = Npy { shape, data: NpyData::U8(vec![7; n]) }.to_bytes();
            let header = String::from_utf8_lossy(&bytes[10..bytes.len() - n]).to_string();
            assert!(header.contains(want), "{header:?} lacks {want:?}");
            assert_eq!((bytes.len() - n) % 64, 0, "{header:?}");
        }
    }

    /// Every one of the 65 536 half-precision bit patterns reads as the `half` crate converts
    /// it: the same bits for numbers and infinities, a NaN for a NaN (an f16 NaN read as an
    /// infinity was a cargo-mutants survivor: both are refused as non-finite downstream).
    #[test]
    fn every_f16_bit_pattern_reads_as_the_half_crate_converts_it() {
        for h in 0..=u16::MAX {
            let (got, want) = (f16_to_f32(h), half::f16::from_bits(h).to_f32());
            assert!(
                got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
                "f16 {h:#06x}: {got:?} ({:#x}), half says {want:?}",
                got.to_bits()
            );
        }
    }

    /// A version-1 header that declares 0 or 1 bytes, in a file long enough to hold a version-2
    /// prefix, is refused with an error, not a panic (reading a v2/v3 length field for a v1
    /// file made `start + len − read` underflow: a cargo-mutants survivor).
    #[test]
    fn a_version_1_header_declaring_almost_nothing_is_an_error() {
        let dir = std::env::temp_dir().join(format!("segloss-npy-v1-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for declared in [0u16, 1] {
            let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
            bytes.extend_from_slice(&declared.to_le_bytes());
            bytes.extend_from_slice(&[b'{'; 1][..declared as usize]);
            bytes.extend_from_slice(&[0u8; 40]);
            let path = dir.join(format!("v1_{declared}.npy"));
            std::fs::write(&path, &bytes).unwrap();
            for result in [Npy::read(&path).map(|_| ()), Npy::probe(&path).map(|_| ())] {
                let err = result.expect_err("a header of 0 or 1 bytes holds no dictionary");
                assert!(!err.0.is_empty());
            }
            assert!(Npy::parse(&bytes).is_err());
        }
        std::fs::remove_dir_all(&dir).ok();
    }

    /// The element limit of `read_limited` admits an array of exactly that many elements and
    /// refuses one more (a `>` turned `>=` survived the sixth cargo-mutants sample).
    #[test]
    fn the_element_limit_is_inclusive() {
        let dir = std::env::temp_dir().join(format!("segloss-npy-limit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let a = Npy { shape: vec![2, 3], data: NpyData::F32(vec![1.0, -2.0, 3.5, 0.0, 5.0, 6.0]) };
        let path = dir.join("six.npy");
        std::fs::write(&path, a.to_bytes()).unwrap();
        assert_eq!(Npy::read_limited(&path, 6).unwrap(), a);
        assert_eq!(Npy::read_limited(&path, 7).unwrap(), a);
        let err = Npy::read_limited(&path, 5).expect_err("6 elements over a limit of 5");
        assert!(err.0.contains("6 elements, more than the limit of 5"), "{}", err.0);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn round_trip_and_errors() {
        let a = Npy { shape: vec![2, 3], data: NpyData::F32(vec![1.0, -2.0, 3.5, 0.0, 5.0, 6.0]) };
        assert_eq!(Npy::parse(&a.to_bytes()).unwrap(), a);
        let b = Npy { shape: vec![4], data: NpyData::U8(vec![0, 1, 2, 255]) };
        assert_eq!(Npy::parse(&b.to_bytes()).unwrap(), b);
        let bytes = a.to_bytes();
        assert!(Npy::parse(&bytes[..bytes.len() - 3]).unwrap_err().0.contains("truncated"));
        assert!(Npy::parse(b"hello world").unwrap_err().0.contains("magic"));
        let h = Npy { shape: vec![2], data: NpyData::F16(vec![1.0, -2.5]) };
        assert_eq!(Npy::parse(&h.to_bytes()).unwrap().data, NpyData::F32(vec![1.0, -2.5]));
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
    }
}
