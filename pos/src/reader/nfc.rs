//! The `nfc` transport: libnfc devices (PN532 boards on a serial port,
//! ACR122U and other PN53x readers on USB) through the `nfc1` crate.
//!
//! libnfc's calls block and its device is bound to the thread that drives
//! it, so an [`NfcReader`] is used from one thread only: the card loop's.
//! Nothing here needs `unsafe`; `nfc1` keeps the FFI to itself.

use super::{Reply, Transport, TransportError};
use nfc1::target_info::TargetInfo;
use nfc1::{BaudRate, Modulation, ModulationType, Timeout};
use std::time::{Duration, Instant};

/// The largest answer a short-APDU card sends: 256 data bytes and SW1 SW2.
const MAX_RESPONSE: usize = 258;

/// How long to rest between two polls of an empty field.
const POLL_PAUSE: Duration = Duration::from_millis(30);

/// Why a libnfc reader cannot be used, or why no card is ready.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NfcError {
    /// libnfc found nothing at the connection string (or nothing at all).
    #[error("no libnfc reader {}: {hint}", at(connstring))]
    NoDevice { connstring: String, hint: String },
    /// The device exists but this user may not open it.
    #[error("permission denied on {device}: {hint}")]
    Permission { device: String, hint: String },
    /// Two or more cards answered the poll (EMV Book A: collision).
    #[error("more than one card in the field: present one card only")]
    Collision,
    /// Nothing was presented before the wait ended.
    #[error("no card presented within {waited_ms} ms")]
    NoCard { waited_ms: u64 },
    /// A tag answered, but not an ISO 14443-4 smart card: no payment card.
    #[error("the card is not a contactless payment card (no ISO 14443-4 support: {what})")]
    NotEmv { what: String },
    #[error("libnfc reader failure: {0}")]
    Reader(String),
}

fn at(connstring: &str) -> String {
    if connstring.is_empty() {
        "found".into()
    } else {
        format!("at {connstring:?}")
    }
}

/// The card found in the field: what a log may show (no card data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardInfo {
    /// "ISO 14443-A" or "ISO 14443-B".
    pub modulation: &'static str,
    /// UID (type A) or PUPI (type B); random on many payment cards.
    pub uid: Vec<u8>,
    /// ATS without its length byte (type A), empty for type B.
    pub ats: Vec<u8>,
}

/// One libnfc device opened by connection string, with at most one card
/// selected.
pub struct NfcReader {
    // Declared before `context` so it is closed before the context is freed.
    device: nfc1::Device,
    _context: nfc1::Context,
    connstring: String,
    card: Option<CardInfo>,
}

impl std::fmt::Debug for NfcReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NfcReader")
            .field("connstring", &self.connstring)
            .field("card", &self.card)
            .finish_non_exhaustive()
    }
}

fn iso14443a() -> Modulation {
    Modulation {
        modulation_type: ModulationType::Iso14443a,
        baud_rate: BaudRate::Baud106,
    }
}

fn iso14443b() -> Modulation {
    Modulation {
        modulation_type: ModulationType::Iso14443b,
        baud_rate: BaudRate::Baud106,
    }
}

impl NfcReader {
    /// Opens the device at `connstring` ("pn532_uart:/dev/ttyUSB0",
    /// "acr122_usb", or "" for the first device libnfc finds) and makes it
    /// a reader (initiator).
    pub fn open(connstring: &str) -> Result<NfcReader, NfcError> {
        let mut context = nfc1::Context::new()
            .map_err(|e| NfcError::Reader(format!("libnfc could not start: {e}")))?;
        let opened = if connstring.is_empty() {
            context.open()
        } else {
            context.open_with_connstring(connstring)
        };
        let mut device = opened.map_err(|_| diagnose_open_failure(connstring))?;
        let connstring = device.connstring().to_string();
        device.initiator_init().map_err(|e| {
            NfcError::Reader(format!("{connstring}: cannot start as a reader: {e}"))
        })?;
        Ok(NfcReader {
            device,
            _context: context,
            connstring,
            card: None,
        })
    }

    /// The connection string libnfc opened.
    pub fn connstring(&self) -> &str {
        &self.connstring
    }

    /// The selected card, once [`NfcReader::wait_for_card`] found one.
    pub fn card(&self) -> Option<&CardInfo> {
        self.card.as_ref()
    }

    /// Polls ISO 14443-A then B until exactly one card is in the field,
    /// and selects it. Two cards are a collision (EMV Book A 8.2: "present
    /// one card only"), a tag without ISO 14443-4 is no payment card.
    pub fn wait_for_card(&mut self, timeout: Duration) -> Result<CardInfo, NfcError> {
        self.card = None;
        let start = Instant::now();
        loop {
            for modulation in [iso14443a(), iso14443b()] {
                if let Some(card) = self.poll_once(&modulation)? {
                    self.card = Some(card.clone());
                    return Ok(card);
                }
            }
            let waited = start.elapsed();
            if waited >= timeout {
                return Err(NfcError::NoCard {
                    waited_ms: u64::try_from(waited.as_millis()).unwrap_or(u64::MAX),
                });
            }
            std::thread::sleep(POLL_PAUSE.min(timeout.saturating_sub(waited)));
        }
    }

    /// One poll of one modulation: `None` when the field is empty.
    fn poll_once(&mut self, modulation: &Modulation) -> Result<Option<CardInfo>, NfcError> {
        // nfc1 0.7 returns as many targets as asked for, whatever libnfc
        // found; the ones not found keep the placeholder it starts from
        // (type A, UID length 0), so found ones are told apart by content.
        let targets = match self.device.initiator_list_passive_targets(modulation, 2) {
            Ok(t) => t,
            // A PN532 without type B support says so; that is no failure.
            Err(nfc1::Error::DeviceNotSupported) => return Ok(None),
            Err(e) => return Err(NfcError::Reader(format!("{}: poll: {e}", self.connstring))),
        };
        let found = distinct_cards(&targets, modulation.modulation_type);
        let card = match found.as_slice() {
            [] => return Ok(None),
            [one] => one.clone(),
            _ => return Err(NfcError::Collision),
        };
        // Listing deselected the card: select it again, by UID on type A so
        // that a second card arriving now is not picked instead.
        let selected = if modulation.modulation_type == ModulationType::Iso14443a {
            self.device
                .initiator_select_passive_target_with_init_data(modulation, &card.uid)
        } else {
            self.device.initiator_select_passive_target(modulation)
        };
        match selected {
            Ok(t) => {
                if let TargetInfo::Iso14443a(a) = t.target_info {
                    // SAK bit 6 (0x20): compliant with ISO 14443-4.
                    if a.sak & 0x20 == 0 {
                        return Err(NfcError::NotEmv {
                            what: format!("SAK {:02X}", a.sak),
                        });
                    }
                }
                Ok(Some(card))
            }
            // It left between the poll and the selection.
            Err(_) => Ok(None),
        }
    }

    /// Releases the card (RF off until the next poll).
    pub fn release(&mut self) {
        self.card = None;
        let _ = self.device.initiator_deselect_target();
    }
}

/// The cards among nfc1's targets. A PN532 wakes the deselected card
/// again (WUPA), and libnfc's own "seen" test compares whole structs, which
/// has been seen to fail on one card (libnfc issue 476): the same UID twice
/// is one card.
fn distinct_cards(targets: &[nfc1::Target], wanted: ModulationType) -> Vec<CardInfo> {
    let mut found: Vec<CardInfo> = Vec::new();
    for card in targets.iter().filter_map(|t| card_info(t, wanted)) {
        if !found.iter().any(|c| c.uid == card.uid) {
            found.push(card);
        }
    }
    found
}

/// What a found target looks like to us; `None` for nfc1's placeholders.
fn card_info(t: &nfc1::Target, wanted: ModulationType) -> Option<CardInfo> {
    if t.modulation.modulation_type != wanted {
        return None;
    }
    match t.target_info {
        TargetInfo::Iso14443a(a) => {
            let uid = a.uid.get(..a.uid_len)?.to_vec();
            if uid.is_empty() {
                return None;
            }
            Some(CardInfo {
                modulation: "ISO 14443-A",
                uid,
                ats: a.ats.get(..a.ats_len).unwrap_or(&[]).to_vec(),
            })
        }
        TargetInfo::Iso14443b(b) => Some(CardInfo {
            modulation: "ISO 14443-B",
            uid: b.pupi.to_vec(),
            ats: Vec::new(),
        }),
        _ => None,
    }
}

impl Transport for NfcReader {
    fn capabilities(&self) -> super::Capabilities {
        // libnfc polls ISO 14443-A then B; presence is polled, not reported.
        super::Capabilities {
            type_a: true,
            type_b: true,
            extended_apdu: false,
            card_events: false,
        }
    }

    fn name(&self) -> String {
        format!("nfc:{}", self.connstring)
    }

    fn transceive(&mut self, command: &[u8], deadline: Duration) -> Result<Reply, TransportError> {
        if self.card.is_none() {
            return Err(TransportError::CardRemoved);
        }
        // libnfc takes whole milliseconds, and 0 would mean "wait forever".
        let ms = deadline.as_millis().clamp(1, i32::MAX as u128);
        let timeout = Timeout::Duration(Duration::from_millis(u64::try_from(ms).unwrap_or(1)));
        let start = Instant::now();
        let result = self
            .device
            .initiator_transceive_bytes(command, MAX_RESPONSE, timeout);
        let elapsed_ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
        match result {
            Ok(bytes) => Ok(Reply { bytes, elapsed_ms }),
            Err(e) => {
                let err = classify(e, deadline);
                if err == TransportError::CardRemoved {
                    self.card = None;
                }
                Err(err)
            }
        }
    }
}

/// libnfc's error for one exchange, as the card loop understands it.
fn classify(e: nfc1::Error, deadline: Duration) -> TransportError {
    match e {
        // The chip's RF timeout (status 01) and a released target both
        // mean no card answers any more.
        nfc1::Error::RfTransmissionError | nfc1::Error::TargetReleased => {
            TransportError::CardRemoved
        }
        // The reader itself did not answer before the deadline.
        nfc1::Error::Timeout => TransportError::Timeout {
            deadline_ms: u64::try_from(deadline.as_millis()).unwrap_or(u64::MAX),
        },
        other => TransportError::Reader(other.to_string()),
    }
}

/// libnfc says only "no device"; find out whether it is absent or
/// forbidden, and say what to do about it.
fn diagnose_open_failure(connstring: &str) -> NfcError {
    let mut parts = connstring.splitn(3, ':');
    let driver = parts.next().unwrap_or("");
    let port = parts.next().unwrap_or("");
    let serial = matches!(driver, "pn532_uart" | "acr122s" | "arygon");
    if serial && !port.is_empty() {
        let path = std::path::Path::new(port);
        if !path.exists() {
            return NfcError::NoDevice {
                connstring: connstring.into(),
                hint: format!("{port} does not exist; is the reader plugged in? (`ls /dev/ttyUSB* /dev/ttyACM*`)"),
            };
        }
        if let Err(e) = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
        {
            if e.kind() == std::io::ErrorKind::PermissionDenied {
                return NfcError::Permission {
                    device: port.into(),
                    hint: "serial ports belong to the `dialout` group: \
                           `sudo usermod -aG dialout $USER`, then log in again"
                        .into(),
                };
            }
        }
        return NfcError::NoDevice {
            connstring: connstring.into(),
            hint: format!(
                "{port} opens but no PN532 answered: check the board is in HSU (UART) mode \
                 and that no other program holds the port"
            ),
        };
    }
    if matches!(driver, "" | "acr122_usb" | "pn53x_usb") && usb_reader_forbidden() {
        return NfcError::Permission {
            device: "USB NFC reader".into(),
            hint: "install a udev rule giving your user access to it (Debian's `libnfc-bin` \
                   ships one, /lib/udev/rules.d/69-libnfc.rules, for the `plugdev` group), \
                   or run as root"
                .into(),
        };
    }
    NfcError::NoDevice {
        connstring: connstring.into(),
        hint: if driver.is_empty() || matches!(driver, "acr122_usb" | "pn53x_usb") {
            "plug the reader in; if it is a PN533/ACR122U, the kernel's own `pn533_usb` \
             driver may hold it: `sudo modprobe -r pn533_usb pn533 nfc` (or blacklist them)"
                .into()
        } else {
            "check the connection string: driver:port, e.g. pn532_uart:/dev/ttyUSB0 or acr122_usb"
                .into()
        },
    }
}

/// True when a USB device node exists that this user may not open: the
/// usual reason libnfc sees no USB reader while `lsusb` shows one.
fn usb_reader_forbidden() -> bool {
    let Ok(buses) = std::fs::read_dir("/dev/bus/usb") else {
        return false;
    };
    for bus in buses.flatten() {
        let Ok(devices) = std::fs::read_dir(bus.path()) else {
            continue;
        };
        for dev in devices.flatten() {
            if let Err(e) = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(dev.path())
            {
                if e.kind() == std::io::ErrorKind::PermissionDenied {
                    return true;
                }
            }
        }
    }
    false
}

/// One libnfc device found by a scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// What to pass to `--reader nfc:<connstring>`.
    pub connstring: String,
}

/// The libnfc devices attached, for `softpos readers`. libnfc scans USB
/// and (intrusively) serial ports; an empty list comes with the reason
/// the user most likely needs.
pub fn list_devices() -> Result<Vec<DeviceInfo>, NfcError> {
    let mut context = nfc1::Context::new()
        .map_err(|e| NfcError::Reader(format!("libnfc could not start: {e}")))?;
    let found = context
        .list_devices(8)
        .map_err(|e| NfcError::Reader(format!("libnfc scan failed: {e}")))?;
    if found.is_empty() {
        return Err(match diagnose_open_failure("") {
            // libnfc scans USB only: probing serial ports could upset
            // whatever else is on them.
            NfcError::NoDevice { connstring, hint } => NfcError::NoDevice {
                connstring,
                hint: format!(
                    "{hint}; PN532 boards on a serial port are not scanned, name them: \
                     nfc:pn532_uart:/dev/ttyUSB0"
                ),
            },
            other => other,
        });
    }
    Ok(found
        .into_iter()
        .map(|connstring| DeviceInfo { connstring })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libnfc_errors_map_to_what_the_card_loop_does() {
        let d = Duration::from_millis(500);
        assert_eq!(
            classify(nfc1::Error::RfTransmissionError, d),
            TransportError::CardRemoved
        );
        assert_eq!(
            classify(nfc1::Error::TargetReleased, d),
            TransportError::CardRemoved
        );
        assert_eq!(
            classify(nfc1::Error::Timeout, d),
            TransportError::Timeout { deadline_ms: 500 }
        );
        assert!(matches!(
            classify(nfc1::Error::Io, d),
            TransportError::Reader(_)
        ));
    }

    #[test]
    fn a_missing_serial_port_is_named_with_what_to_check() {
        match diagnose_open_failure("pn532_uart:/dev/does-not-exist") {
            NfcError::NoDevice { hint, .. } => assert!(hint.contains("does not exist")),
            other => panic!("{other:?}"),
        }
        // A port that opens but where nothing answers is no permission issue.
        match diagnose_open_failure("pn532_uart:/dev/null") {
            NfcError::NoDevice { hint, .. } => assert!(hint.contains("no PN532 answered")),
            other => panic!("{other:?}"),
        }
    }

    fn type_a(uid: &[u8]) -> nfc1::Target {
        let mut t = nfc1::Target::new_iso14443a();
        if let TargetInfo::Iso14443a(a) = &mut t.target_info {
            a.uid[..uid.len()].copy_from_slice(uid);
            a.uid_len = uid.len();
        }
        t
    }

    #[test]
    fn one_card_seen_twice_is_one_card_and_two_are_two() {
        let a = ModulationType::Iso14443a;
        let one = distinct_cards(&[type_a(&[8, 1, 2, 3]), type_a(&[8, 1, 2, 3])], a);
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].uid, vec![8, 1, 2, 3]);
        let two = distinct_cards(&[type_a(&[8, 1, 2, 3]), type_a(&[8, 1, 2, 4])], a);
        assert_eq!(two.len(), 2);
        let none = distinct_cards(&[nfc1::Target::new_iso14443a(), type_a(&[])], a);
        assert!(none.is_empty());
    }

    #[test]
    fn placeholders_are_not_cards() {
        let placeholder = nfc1::Target::new_iso14443a();
        assert_eq!(card_info(&placeholder, ModulationType::Iso14443a), None);
        assert_eq!(card_info(&placeholder, ModulationType::Iso14443b), None);
    }
}
