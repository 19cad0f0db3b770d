//! Reading configuration and var files from disk. Only regular files are
//! read (a symbolic link to one is followed), up to a size: a FIFO would
//! block the run, a device such as `/dev/zero` would fill memory, and a
//! dangling link silently skipped would plan the removal of its grants.

use std::fs::{File, OpenOptions};
use std::io::{self, Read as _};
use std::path::{Path, PathBuf};

use super::FILE_SUFFIX;

/// The largest configuration or var file read. A grant block is about
/// 120 bytes, so this is over 100,000 grants in one file, far beyond any
/// tenant; and since the parsed tree takes many times the text, it keeps
/// the memory of a run to hundreds of megabytes at worst.
pub const MAX_FILE_SIZE: u64 = 16 * 1024 * 1024;

/// A file that could not be read, and why.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {}: {reason}", path.display())]
pub struct ReadError {
    pub path: PathBuf,
    pub reason: ReadErrorKind,
}

#[derive(Debug, thiserror::Error)]
pub enum ReadErrorKind {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("it is a symbolic link to {}, which does not exist", .0.display())]
    DanglingLink(PathBuf),
    #[error("it is a symbolic link that loops, or a chain of links too long to follow")]
    LinkLoop,
    #[error("it is {0}, not a regular file")]
    NotAFile(&'static str),
    #[error("it is larger than {} MiB", .0 / (1024 * 1024))]
    TooLarge(u64),
}

impl ReadError {
    /// What to do about it, when there is something to say.
    pub fn hint(&self) -> Option<&'static str> {
        match self.reason {
            ReadErrorKind::Io(_) => None,
            ReadErrorKind::DanglingLink(_)
            | ReadErrorKind::LinkLoop
            | ReadErrorKind::NotAFile(_) => Some(
                "configuration and var files must be regular files (a symbolic link to one is followed); fix or remove it",
            ),
            ReadErrorKind::TooLarge(_) => {
                Some("split the configuration into several *.pim.hcl files")
            }
        }
    }
}

/// The `*.pim.hcl` entries of `dir`, sorted, whatever their type: an entry
/// that is not a regular file is reported when read, never skipped.
pub fn config_paths(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        // By bytes: a name that is not UTF-8 is still a configuration file.
        if entry
            .file_name()
            .as_encoded_bytes()
            .ends_with(FILE_SUFFIX.as_bytes())
        {
            paths.push(entry.path());
        }
    }
    paths.sort();
    Ok(paths)
}

/// Reads a configuration or var file as text.
pub fn read_text(path: &Path) -> Result<String, ReadError> {
    read_text_limited(path, MAX_FILE_SIZE)
}

/// Reads any file pim takes as input (a saved plan, a state file) the same
/// way, up to `max` bytes.
pub fn read_text_limited(path: &Path, max: u64) -> Result<String, ReadError> {
    read(path, max).map_err(|reason| ReadError {
        path: path.to_path_buf(),
        reason,
    })
}

fn read(path: &Path, max: u64) -> Result<String, ReadErrorKind> {
    // The type is checked before opening: opening a FIFO for reading
    // blocks until something writes to it.
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(match std::fs::read_link(path) {
                Ok(target) => ReadErrorKind::DanglingLink(target),
                Err(_) => ReadErrorKind::Io(e),
            });
        }
        #[cfg(unix)]
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return Err(ReadErrorKind::LinkLoop),
        Err(e) => return Err(ReadErrorKind::Io(e)),
    };
    check_type(&meta)?;
    if meta.len() > max {
        return Err(ReadErrorKind::TooLarge(max));
    }
    let file = open(path)?;
    // The path may have been replaced since it was looked at: what counts
    // is what was opened.
    check_type(&file.metadata()?)?;
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(ReadErrorKind::TooLarge(max));
    }
    String::from_utf8(bytes).map_err(|_| {
        ReadErrorKind::Io(io::Error::new(
            io::ErrorKind::InvalidData,
            "it is not UTF-8 text",
        ))
    })
}

/// Opens without blocking on a FIFO that took the file's place after it
/// was checked; for a regular file the flag changes nothing.
fn open(path: &Path) -> io::Result<File> {
    let mut o = OpenOptions::new();
    o.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        o.custom_flags(libc::O_NONBLOCK);
    }
    o.open(path)
}

fn check_type(meta: &std::fs::Metadata) -> Result<(), ReadErrorKind> {
    let t = meta.file_type();
    if t.is_file() {
        return Ok(());
    }
    if t.is_dir() {
        return Err(ReadErrorKind::NotAFile("a directory"));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if t.is_fifo() {
            return Err(ReadErrorKind::NotAFile("a FIFO"));
        }
        if t.is_char_device() || t.is_block_device() {
            return Err(ReadErrorKind::NotAFile("a device"));
        }
        if t.is_socket() {
            return Err(ReadErrorKind::NotAFile("a socket"));
        }
    }
    Err(ReadErrorKind::NotAFile("a special file"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_over_the_limit_is_refused_without_reading_it() {
        let dir = std::env::temp_dir().join(format!("pim-read-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("big.pim.hcl");
        let f = File::create(&path).unwrap();
        // Sparse: no disk used, and never read.
        f.set_len(MAX_FILE_SIZE + 1).unwrap();
        let e = read_text(&path).unwrap_err();
        assert!(matches!(e.reason, ReadErrorKind::TooLarge(_)), "{e}");
        f.set_len(3).unwrap();
        assert_eq!(read_text(&path).unwrap(), "\0\0\0");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
