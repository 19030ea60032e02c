//! Reading QR codes from an image (a camera frame or a file). A
//! keyboard-wedge scanner needs none of this: what it types is the payload.

use image::{ImageReader, Limits};
use std::io::Cursor;
use std::path::Path;

/// Larger than any camera frame we expect; refusing bigger images keeps a
/// hostile file from making us allocate gigabytes.
pub const MAX_SIDE_PX: u32 = 8192;

/// Why no payload came out of an image.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    #[error("{0}")]
    Io(String),
    #[error("not an image we can read: {0}")]
    Image(String),
    #[error("no QR code found in the image")]
    NoCode,
    #[error("found a QR code but could not decode it: {0}")]
    Decode(String),
}

/// Every QR code's text in the image file at `path`.
pub fn decode_file(path: &Path) -> Result<Vec<String>, ScanError> {
    let bytes =
        std::fs::read(path).map_err(|e| ScanError::Io(format!("{}: {e}", path.display())))?;
    decode_bytes(&bytes)
}

/// Every QR code's text in an encoded image (PNG or JPEG). Fails if a code
/// is found but none decodes.
pub fn decode_bytes(bytes: &[u8]) -> Result<Vec<String>, ScanError> {
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| ScanError::Image(e.to_string()))?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE_PX);
    limits.max_image_height = Some(MAX_SIDE_PX);
    limits.max_alloc = Some(256 * 1024 * 1024);
    reader.limits(limits);
    let img = reader
        .decode()
        .map_err(|e| ScanError::Image(e.to_string()))?
        .to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(img);
    let grids = prepared.detect_grids();
    if grids.is_empty() {
        return Err(ScanError::NoCode);
    }
    let mut found = Vec::new();
    let mut last_error = None;
    for g in grids {
        match g.decode() {
            Ok((_, text)) => found.push(text),
            Err(e) => last_error = Some(e.to_string()),
        }
    }
    match (found.is_empty(), last_error) {
        (true, Some(e)) => Err(ScanError::Decode(e)),
        (true, None) => Err(ScanError::NoCode),
        _ => Ok(found),
    }
}
