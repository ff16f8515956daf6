//! Every file the tool writes is created here: readable by its owner only (0600), because a
//! trace, a report or a key is exactly what must not leak to other users of the machine.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

fn options() -> OpenOptions {
    let mut o = OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o
}

/// Creates a new file (0600); an existing one is an error (`AlreadyExists`), never replaced.
pub fn create_new(path: &Path) -> io::Result<File> {
    options().write(true).create_new(true).open(path)
}

/// Opens a file for appending, creating it 0600. An existing file keeps its mode, unless it is
/// readable by others: then it is narrowed to 0600 first (a trace may hold secrets).
pub fn append(path: &Path) -> io::Result<File> {
    let f = options().create(true).append(true).open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // Only a regular file is ours to narrow (not /dev/stdout, a FIFO, a device).
        let meta = f.metadata()?;
        let mode = meta.permissions().mode();
        if meta.is_file() && mode & 0o077 != 0 {
            f.set_permissions(std::fs::Permissions::from_mode(mode & 0o700))?;
        }
    }
    Ok(f)
}

/// Writes `content` to a new file (0600); refuses to overwrite.
pub fn write_new(path: &Path, content: &[u8]) -> io::Result<()> {
    use io::Write;
    let mut f = create_new(path)?;
    f.write_all(content)?;
    f.sync_all()
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn files_are_private_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x");
        write_new(&p, b"one").unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(write_new(&p, b"two").unwrap_err().kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&p).unwrap(), b"one");
        let j = dir.path().join("j.jsonl");
        std::fs::write(&j, "").unwrap();
        std::fs::set_permissions(&j, std::fs::Permissions::from_mode(0o644)).unwrap();
        drop(append(&j).unwrap());
        assert_eq!(std::fs::metadata(&j).unwrap().permissions().mode() & 0o777, 0o600);
    }
}
