//! QA use cases behind `softpos replay` and `softpos session import`.

use crate::PosError;
use session::{replay, ReplayReport, Session};
use std::path::{Path, PathBuf};

/// Session files named on the command line: files as given, directories
/// searched recursively for `*.session.json`, in sorted order.
pub fn collect_sessions(paths: &[PathBuf]) -> Result<Vec<PathBuf>, PosError> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut out)?;
        } else {
            // A missing file is reported by the replay line, not here, so
            // that one bad argument does not hide the others' results.
            out.push(p.clone());
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), PosError> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| PosError::Io(format!("{}: {e}", dir.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out)?;
        } else if p
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with(".session.json"))
        {
            out.push(p);
        }
    }
    Ok(())
}

/// Replays one file: its report, or why it could not be read.
pub fn replay_file(path: &Path) -> Result<ReplayReport, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
    let session = Session::parse(&text).map_err(|e| format!("invalid session: {e}"))?;
    Ok(replay(&session))
}

/// The transcript formats `softpos session import` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportFormat {
    Binaryfoo,
    Devnied,
}

/// Converts a transcript file into a session.
pub fn import_file(format: ImportFormat, path: &Path) -> Result<Session, PosError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| PosError::Io(format!("{}: {e}", path.display())))?;
    let result = match format {
        ImportFormat::Binaryfoo => session::from_binaryfoo(&text),
        ImportFormat::Devnied => session::from_devnied(&text),
    };
    result.map_err(|e| PosError::Import(format!("{}: {e}", path.display())))
}
