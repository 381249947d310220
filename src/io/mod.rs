//! Reading and writing masks and arrays: `.npy` and PNG.

pub mod mask;
pub mod npy;

/// Opens `path` for reading if it is a regular file (or a link to one), with its length.
/// Anything else — a FIFO (whose open would block), a device such as `/dev/zero`, a folder —
/// is refused by its kind before it is opened.
pub fn open_regular(path: &std::path::Path) -> Result<(std::fs::File, u64), String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("reading: {e}"))?;
    if !meta.is_file() {
        return Err(format!("not a regular file ({}): not read", file_kind(&meta)));
    }
    let file = std::fs::File::open(path).map_err(|e| format!("opening: {e}"))?;
    Ok((file, meta.len()))
}

/// What kind of file the metadata describes, in words.
pub fn file_kind(meta: &std::fs::Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_dir() {
        return "a folder";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if t.is_file() {
        "a regular file"
    } else {
        "not a regular file"
    }
}
