//! ESC/POS: the command set of most receipt printers. The stream starts
//! with ESC @ (initialise), selects code page WPC1252 (ESC t 16), centres
//! and emboldens the merchant's name, prints the text layout and ends with
//! a feed and a partial cut (GS V 66 0).
//!
//! Text is encoded in Windows-1252: characters outside it (a Chinese
//! merchant name, say) print as `?`; a printer with a GB18030 font would
//! need its own code page command, which this does not guess at.

use super::Receipt;

const ESC: u8 = 0x1B;
const GS: u8 = 0x1D;

/// ESC @: reset the printer to its defaults.
pub const INIT: [u8; 2] = [ESC, b'@'];
/// GS V 66 0: feed to the cutter, then a partial cut.
pub const CUT: [u8; 4] = [GS, b'V', 66, 0];

fn align(out: &mut Vec<u8>, n: u8) {
    out.extend_from_slice(&[ESC, b'a', n]);
}

fn bold(out: &mut Vec<u8>, on: bool) {
    out.extend_from_slice(&[ESC, b'E', u8::from(on)]);
}

/// Windows-1252 bytes of `s`; `?` for what it cannot encode.
pub fn cp1252(s: &str) -> Vec<u8> {
    s.chars()
        .map(|c| match c {
            '\n' => b'\n',
            ' '..='~' => u8::try_from(u32::from(c)).unwrap_or(b'?'),
            '\u{A0}'..='\u{FF}' => u8::try_from(u32::from(c)).unwrap_or(b'?'),
            '€' => 0x80,
            '‚' => 0x82,
            '„' => 0x84,
            '…' => 0x85,
            '‘' => 0x91,
            '’' => 0x92,
            '“' => 0x93,
            '”' => 0x94,
            '–' => 0x96,
            '—' => 0x97,
            _ => b'?',
        })
        .collect()
}

/// The receipt as printer commands, `width` columns.
pub fn render(r: &Receipt, width: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(1024);
    out.extend_from_slice(&INIT);
    out.extend_from_slice(&[ESC, b't', 16]);
    let text = r.to_text(width);
    let header_lines = r.layout().0.iter().fold(0usize, |n, h| {
        n.saturating_add(super::wrap(h, width.clamp(20, 120)).len())
    });
    let mut lines = text.lines();
    align(&mut out, 1);
    for i in 0..header_lines {
        let Some(line) = lines.next() else { break };
        if i == 0 {
            bold(&mut out, true);
        }
        out.extend(cp1252(line.trim_start()));
        out.push(b'\n');
        if i == 0 {
            bold(&mut out, false);
        }
    }
    align(&mut out, 0);
    for line in lines {
        let is_result = line.starts_with(&r.title);
        if is_result {
            bold(&mut out, true);
        }
        out.extend(cp1252(line));
        out.push(b'\n');
        if is_result {
            bold(&mut out, false);
        }
    }
    // ESC d 3: feed three lines so the cut clears the text.
    out.extend_from_slice(&[ESC, b'd', 3]);
    out.extend_from_slice(&CUT);
    out
}
