//! Reading and writing masks and arrays: `.npy`, PNG and NIfTI-1 label volumes.

pub mod mask;
pub mod nifti;
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

/// Whether two paths name the same existing file or folder (same device and inode on Unix).
pub fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    let (Ok(ma), Ok(mb)) = (std::fs::metadata(a), std::fs::metadata(b)) else { return false };
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        ma.dev() == mb.dev() && ma.ino() == mb.ino()
    }
    #[cfg(not(unix))]
    {
        let _ = (ma, mb);
        matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
    }
}

/// A file written under a temporary name in its destination's folder and renamed over the
/// destination by [`AtomicFile::commit`]: a write that fails half-way (full disk, killed
/// process) leaves no truncated file under the destination's name. Dropped uncommitted, the
/// temporary file is removed.
pub struct AtomicFile {
    tmp: std::path::PathBuf,
    dest: std::path::PathBuf,
    writer: Option<std::io::BufWriter<std::fs::File>>,
}

impl AtomicFile {
    /// Creates the temporary file beside `dest`. Errors name `dest` and the operation.
    pub fn create(dest: &std::path::Path) -> Result<AtomicFile, String> {
        static SERIAL: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let shown = dest.display();
        if std::fs::metadata(dest).is_ok_and(|m| !m.is_file()) {
            return Err(format!("{shown}: cannot write: it exists and is not a regular file"));
        }
        let name = dest.file_name().ok_or_else(|| format!("{shown}: cannot write: not a file name"))?;
        let parent = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => std::path::PathBuf::from("."),
        };
        let serial = SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".tmp-{}-{serial}", std::process::id()));
        let tmp = parent.join(tmp_name);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| format!("{shown}: cannot create: {e}"))?;
        Ok(AtomicFile { tmp, dest: dest.to_path_buf(), writer: Some(std::io::BufWriter::new(file)) })
    }

    /// The writer (buffered).
    pub fn writer(&mut self) -> &mut std::io::BufWriter<std::fs::File> {
        self.writer.as_mut().expect("an AtomicFile is used only before commit")
    }

    /// An I/O error while writing, as a message naming the destination.
    pub fn write_error(&self, e: impl std::fmt::Display) -> String {
        format!("{}: error writing: {e}", self.dest.display())
    }

    /// Flushes, syncs and renames the file over its destination.
    pub fn commit(mut self) -> Result<(), String> {
        let writer = self.writer.take().expect("commit once");
        let file = writer.into_inner().map_err(|e| self.write_error(e.error()))?;
        file.sync_all().map_err(|e| self.write_error(e))?;
        drop(file);
        std::fs::rename(&self.tmp, &self.dest)
            .map_err(|e| format!("{}: cannot rename the finished file into place: {e}", self.dest.display()))
    }

    /// Writes `bytes` as the whole file, atomically.
    pub fn write_all(dest: &std::path::Path, bytes: &[u8]) -> Result<(), String> {
        use std::io::Write;
        let mut f = AtomicFile::create(dest)?;
        f.writer().write_all(bytes).map_err(|e| f.write_error(e))?;
        f.commit()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.writer.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}
