//! Drawing a payload as a QR code: PNG and SVG for screens and files, and
//! Unicode half blocks for the CLI.

use image::{ImageFormat, Luma};
use qrcode::render::{svg, unicode};
use qrcode::{EcLevel, QrCode};
use std::io::Cursor;

/// Why a payload could not be drawn.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("the payload does not fit in a QR code: {0}")]
    TooLong(String),
    #[error("PNG encoding failed: {0}")]
    Png(String),
}

// Level M (15% of the code can be lost) is what wallet apps expect of a
// payment code: a phone's glare or a scratched screen still reads, and a
// 512-character payload stays a code a phone camera resolves.
fn code(payload: &str) -> Result<QrCode, RenderError> {
    QrCode::with_error_correction_level(payload.as_bytes(), EcLevel::M)
        .map_err(|e| RenderError::TooLong(e.to_string()))
}

/// A greyscale PNG with a quiet zone, at least `min_px` pixels wide.
pub fn png(payload: &str, min_px: u32) -> Result<Vec<u8>, RenderError> {
    let img = code(payload)?
        .render::<Luma<u8>>()
        .min_dimensions(min_px, min_px)
        .quiet_zone(true)
        .build();
    let mut out = Vec::new();
    image::DynamicImage::ImageLuma8(img)
        .write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
        .map_err(|e| RenderError::Png(e.to_string()))?;
    Ok(out)
}

/// An SVG document, at least `min_px` wide.
pub fn svg(payload: &str, min_px: u32) -> Result<String, RenderError> {
    Ok(code(payload)?
        .render::<svg::Color<'_>>()
        .min_dimensions(min_px, min_px)
        .quiet_zone(true)
        .build())
}

/// Two modules per character cell with half blocks. Light modules are drawn
/// and dark ones left blank, which is right on the usual dark terminal
/// background; the quiet zone keeps the code readable by a phone held to the
/// screen.
pub fn terminal(payload: &str) -> Result<String, RenderError> {
    Ok(code(payload)?
        .render::<unicode::Dense1x2>()
        .dark_color(unicode::Dense1x2::Light)
        .light_color(unicode::Dense1x2::Dark)
        .quiet_zone(true)
        .build())
}
