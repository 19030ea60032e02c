//! ISO 7816-4 command and response APDUs, and the commands the kernel sends.

use std::fmt;

/// A command APDU (short form: EMV contactless never needs extended length).
#[derive(Clone, PartialEq, Eq)]
pub struct CommandApdu {
    pub cla: u8,
    pub ins: u8,
    pub p1: u8,
    pub p2: u8,
    pub data: Vec<u8>,
    /// Expected response length; `Some(0)` encodes as `00` (up to 256).
    pub le: Option<u8>,
}

/// Why bytes are not a valid short command APDU.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApduError {
    #[error("APDU shorter than the 4-byte header")]
    TooShort,
    #[error("APDU body does not match its Lc")]
    BadLength,
    #[error("command data longer than 255 bytes")]
    DataTooLong,
    #[error("response shorter than its 2-byte status word")]
    NoStatusWord,
}

impl CommandApdu {
    pub fn new(cla: u8, ins: u8, p1: u8, p2: u8, data: Vec<u8>, le: Option<u8>) -> Self {
        CommandApdu {
            cla,
            ins,
            p1,
            p2,
            data,
            le,
        }
    }

    /// SELECT by name (DF name or AID), first or only occurrence.
    pub fn select(name: &[u8]) -> Self {
        Self::new(0x00, 0xA4, 0x04, 0x00, name.to_vec(), Some(0))
    }

    /// SELECT next occurrence of a partial name.
    pub fn select_next(name: &[u8]) -> Self {
        Self::new(0x00, 0xA4, 0x04, 0x02, name.to_vec(), Some(0))
    }

    /// GET PROCESSING OPTIONS with PDOL data wrapped in tag 83.
    pub fn gpo(pdol_data: &[u8]) -> Self {
        let mut data = Vec::with_capacity(pdol_data.len().saturating_add(2));
        data.push(0x83);
        // The PDOL parser caps data at 252 bytes, so this fits one byte.
        data.push(u8::try_from(pdol_data.len()).unwrap_or(u8::MAX));
        data.extend_from_slice(pdol_data);
        Self::new(0x80, 0xA8, 0x00, 0x00, data, Some(0))
    }

    /// READ RECORD `record` of short file `sfi`.
    pub fn read_record(sfi: u8, record: u8) -> Self {
        Self::new(0x00, 0xB2, record, (sfi << 3) | 0x04, Vec::new(), Some(0))
    }

    /// GENERATE AC; `p1` carries the cryptogram type and the CDA request bit.
    pub fn generate_ac(p1: u8, cdol_data: &[u8]) -> Self {
        Self::new(0x80, 0xAE, p1, 0x00, cdol_data.to_vec(), Some(0))
    }

    /// GET RESPONSE for `61xx`.
    pub fn get_response(le: u8) -> Self {
        Self::new(0x00, 0xC0, 0x00, 0x00, Vec::new(), Some(le))
    }

    /// GET DATA for a primitive tag such as 9F36 (ATC) or 9F17.
    pub fn get_data(tag: u16) -> Self {
        let [p1, p2] = tag.to_be_bytes();
        Self::new(0x80, 0xCA, p1, p2, Vec::new(), Some(0))
    }

    /// The same command with another Le, for a `6Cxx` answer.
    pub fn with_le(&self, le: u8) -> Self {
        CommandApdu {
            le: Some(le),
            ..self.clone()
        }
    }

    /// Encodes as ISO 7816-4 case 1–4 short APDU bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.data.len().saturating_add(6));
        out.extend_from_slice(&[self.cla, self.ins, self.p1, self.p2]);
        if !self.data.is_empty() {
            out.push(u8::try_from(self.data.len()).unwrap_or(u8::MAX));
            out.extend_from_slice(&self.data);
        }
        if let Some(le) = self.le {
            out.push(le);
        }
        out
    }

    /// Parses a short APDU, as a card simulator receives it.
    pub fn parse(bytes: &[u8]) -> Result<Self, ApduError> {
        let [cla, ins, p1, p2, body @ ..] = bytes else {
            return Err(ApduError::TooShort);
        };
        let (data, le) = match body {
            [] => (Vec::new(), None),
            [le] => (Vec::new(), Some(*le)),
            [lc, rest @ ..] => {
                let lc = usize::from(*lc);
                if lc == 0 {
                    return Err(ApduError::BadLength);
                }
                match rest.len().checked_sub(lc) {
                    Some(0) => (rest.to_vec(), None),
                    Some(1) => (rest.get(..lc).unwrap_or(&[]).to_vec(), rest.last().copied()),
                    _ => return Err(ApduError::BadLength),
                }
            }
        };
        Ok(CommandApdu {
            cla: *cla,
            ins: *ins,
            p1: *p1,
            p2: *p2,
            data,
            le,
        })
    }

    /// A short name for traces.
    pub fn name(&self) -> &'static str {
        match (self.cla & 0xF0, self.ins) {
            (_, 0xA4) => "SELECT",
            (0x80, 0xA8) => "GET PROCESSING OPTIONS",
            (_, 0xB2) => "READ RECORD",
            (0x80, 0xAE) => "GENERATE AC",
            (_, 0xC0) => "GET RESPONSE",
            (0x80, 0xCA) => "GET DATA",
            (0x80, 0x2A) => "COMPUTE CRYPTOGRAPHIC CHECKSUM",
            (_, 0x88) => "INTERNAL AUTHENTICATE",
            (0x80, 0x82) | (0x00, 0x82) => "EXTERNAL AUTHENTICATE",
            _ => "COMMAND",
        }
    }
}

impl fmt::Debug for CommandApdu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.name(), hex::encode_upper(self.to_bytes()))
    }
}

/// A status word, `SW1 SW2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatusWord(pub u16);

impl StatusWord {
    pub const OK: StatusWord = StatusWord(0x9000);
    pub const FILE_NOT_FOUND: StatusWord = StatusWord(0x6A82);
    pub const FUNCTION_NOT_SUPPORTED: StatusWord = StatusWord(0x6A81);
    pub const CONDITIONS_NOT_SATISFIED: StatusWord = StatusWord(0x6985);
    pub const RECORD_NOT_FOUND: StatusWord = StatusWord(0x6A83);
    pub const SELECTED_FILE_INVALIDATED: StatusWord = StatusWord(0x6283);
    pub const WRONG_LENGTH: StatusWord = StatusWord(0x6700);
    pub const INS_NOT_SUPPORTED: StatusWord = StatusWord(0x6D00);

    pub fn sw1(self) -> u8 {
        self.0.to_be_bytes()[0]
    }
    pub fn sw2(self) -> u8 {
        self.0.to_be_bytes()[1]
    }
    pub fn is_ok(self) -> bool {
        self == Self::OK
    }

    /// What a person should read for the status word.
    pub fn meaning(self) -> &'static str {
        match self.0 {
            0x9000 => "success",
            0x6283 => "selected file invalidated (application blocked)",
            0x6700 => "wrong length",
            0x6985 => "conditions of use not satisfied",
            0x6984 => "referenced data invalidated",
            0x6A81 => "function not supported (card blocked)",
            0x6A82 => "file or application not found",
            0x6A83 => "record not found",
            0x6A86 => "incorrect P1 P2",
            0x6D00 => "instruction not supported",
            0x6E00 => "class not supported",
            0x6F00 => "no precise diagnosis",
            sw if sw >> 8 == 0x61 => "more data available (GET RESPONSE)",
            sw if sw >> 8 == 0x6C => "wrong Le (resend with the right one)",
            sw if sw >> 8 == 0x63 => "warning: non-volatile memory changed",
            _ => "unexpected status",
        }
    }
}

impl fmt::Display for StatusWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04X}", self.0)
    }
}

/// A response APDU: data and status word.
#[derive(Clone, PartialEq, Eq)]
pub struct ResponseApdu {
    pub data: Vec<u8>,
    pub sw: StatusWord,
}

impl ResponseApdu {
    pub fn new(data: Vec<u8>, sw: u16) -> Self {
        ResponseApdu {
            data,
            sw: StatusWord(sw),
        }
    }

    pub fn ok(data: Vec<u8>) -> Self {
        Self::new(data, 0x9000)
    }

    pub fn status(sw: u16) -> Self {
        Self::new(Vec::new(), sw)
    }

    /// Splits raw bytes into data and status word.
    pub fn parse(bytes: &[u8]) -> Result<Self, ApduError> {
        match bytes {
            [data @ .., sw1, sw2] => Ok(ResponseApdu {
                data: data.to_vec(),
                sw: StatusWord(u16::from_be_bytes([*sw1, *sw2])),
            }),
            _ => Err(ApduError::NoStatusWord),
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.data.clone();
        out.extend_from_slice(&self.sw.0.to_be_bytes());
        out
    }
}

impl fmt::Debug for ResponseApdu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", hex::encode_upper(&self.data), self.sw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_standard_commands() {
        let ppse = CommandApdu::select(b"2PAY.SYS.DDF01");
        assert_eq!(
            hex::encode_upper(ppse.to_bytes()),
            "00A404000E325041592E5359532E444446303100"
        );
        assert_eq!(
            hex::encode_upper(CommandApdu::gpo(&[]).to_bytes()),
            "80A8000002830000"
        );
        assert_eq!(
            hex::encode_upper(CommandApdu::read_record(1, 1).to_bytes()),
            "00B2010C00"
        );
        assert_eq!(
            hex::encode_upper(CommandApdu::read_record(2, 1).to_bytes()),
            "00B2011400"
        );
        assert_eq!(
            hex::encode_upper(CommandApdu::get_data(0x9F36).to_bytes()),
            "80CA9F3600"
        );
    }

    #[test]
    fn parse_round_trips() {
        for c in [
            CommandApdu::select(b"2PAY.SYS.DDF01"),
            CommandApdu::gpo(&[1, 2, 3]),
            CommandApdu::read_record(3, 2),
            CommandApdu::new(0x80, 0xAE, 0x80, 0, vec![1; 20], None),
            CommandApdu::new(0x00, 0x84, 0, 0, vec![], None),
        ] {
            assert_eq!(CommandApdu::parse(&c.to_bytes()).unwrap(), c);
        }
        assert_eq!(
            CommandApdu::parse(&[0, 1, 2]).unwrap_err(),
            ApduError::TooShort
        );
        assert_eq!(
            CommandApdu::parse(&[0, 1, 2, 3, 5, 1]).unwrap_err(),
            ApduError::BadLength
        );
    }

    #[test]
    fn response_split() {
        let r = ResponseApdu::parse(&[0x61, 0x10]).unwrap();
        assert_eq!(r.sw.sw1(), 0x61);
        assert!(ResponseApdu::parse(&[0x90]).is_err());
    }
}
