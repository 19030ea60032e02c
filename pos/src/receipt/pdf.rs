//! A one-page PDF 1.4 receipt, written by hand: the catalog, one page sized
//! to the receipt, the standard Courier font (no embedding) with
//! WinAnsiEncoding, one content stream of text objects, and an exact
//! cross-reference table.
//!
//! The standard fonts cover Latin-1 only: characters outside
//! WinAnsiEncoding (a Chinese merchant name, say) are printed as `?`. The
//! document's Info /Title carries the merchant's name in full as UTF-16,
//! which viewers show; embedding a CJK font is left to the app.

use super::Receipt;

const FONT_SIZE: u32 = 9;
const LEADING: u32 = 11;
const MARGIN: u32 = 14;
/// Columns of the text layout drawn on the page.
pub const COLUMNS: usize = 42;

/// A PDF literal string of `s` in WinAnsiEncoding: `(` `)` `\` escaped,
/// bytes above 126 as octal escapes, `?` for what the encoding lacks.
fn literal(s: &str) -> String {
    let mut o = String::from("(");
    for b in super::escpos::cp1252(s) {
        match b {
            b'(' | b')' | b'\\' => {
                o.push('\\');
                o.push(char::from(b));
            }
            0x20..=0x7E => o.push(char::from(b)),
            _ => o.push_str(&format!("\\{b:03o}")),
        }
    }
    o.push(')');
    o
}

/// A PDF text string in UTF-16BE with a byte order mark, as hex.
fn utf16_hex(s: &str) -> String {
    let mut o = String::from("<FEFF");
    for u in s.encode_utf16() {
        o.push_str(&format!("{u:04X}"));
    }
    o.push('>');
    o
}

/// The receipt as a PDF file.
pub fn render(r: &Receipt) -> Vec<u8> {
    let text = r.to_text(COLUMNS);
    let lines: Vec<&str> = text.lines().collect();
    let n = u32::try_from(lines.len()).unwrap_or(u32::MAX / 32);
    // Courier advances 600/1000 em per character.
    let width = MARGIN * 2 + (u32::try_from(COLUMNS).unwrap_or(42) * FONT_SIZE * 6).div_ceil(10);
    let height = MARGIN * 2 + n.saturating_mul(LEADING);
    let mut content = String::new();
    let mut y = height - MARGIN - FONT_SIZE;
    for (i, line) in lines.iter().enumerate() {
        let font = if i == 0 { "/F2" } else { "/F1" };
        content.push_str(&format!(
            "BT {font} {FONT_SIZE} Tf {MARGIN} {y} Td {} Tj ET\n",
            literal(line)
        ));
        y = y.saturating_sub(LEADING);
    }
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {width} {height}] \
             /Resources << /Font << /F1 4 0 R /F2 5 0 R >> >> /Contents 6 0 R >>"
        ),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Courier /Encoding /WinAnsiEncoding >>"
            .to_string(),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Courier-Bold /Encoding /WinAnsiEncoding >>"
            .to_string(),
        format!(
            "<< /Length {} >>\nstream\n{content}endstream",
            content.len()
        ),
        format!(
            "<< /Title {} /Subject {} /Producer (softpos) >>",
            utf16_hex(&format!("{} {}", r.merchant_name, r.title)),
            utf16_hex(&format!("{} {}", r.amount, r.status))
        ),
    ];
    // The binary comment line tells transfer tools the file is binary.
    let mut out: Vec<u8> = b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n".to_vec();
    let mut offsets = Vec::with_capacity(objects.len());
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    let mut tail = format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1);
    for o in &offsets {
        tail.push_str(&format!("{o:010} 00000 n \n"));
    }
    tail.push_str(&format!(
        "trailer\n<< /Size {} /Root 1 0 R /Info 7 0 R >>\nstartxref\n{xref}\n%%EOF\n",
        objects.len() + 1
    ));
    out.extend_from_slice(tail.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_escape_and_encode() {
        assert_eq!(literal("a(b)\\c"), "(a\\(b\\)\\\\c)");
        assert_eq!(literal("Café €"), "(Caf\\351 \\200)");
        assert_eq!(literal("超市"), "(??)");
        assert_eq!(utf16_hex("超"), "<FEFF8D85>");
    }
}
