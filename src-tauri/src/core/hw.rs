//! Host hardware: PC/SC and libnfc readers, and CUPS printers. A payment
//! on a hardware reader waits for the card here and then runs the same
//! `pos::tap::tap_on_reader` and `pos::pay::charge` as `softpos pay
//! --reader`; nothing here decides a payment.

use super::{internal, ui, Core, Sink, SIM_READER};
use crate::types::{
    AppStatus, CommandError, ErrorCode, HwNote, HwNoteKind, HwSource, PaymentEvent, PrinterInfo,
    PrinterList, ReaderInfo, SavedReceipt,
};
use kernel::outcome::{Message, Status};
use pos::reader::nfc::{NfcError, NfcReader};
use pos::reader::pcsc::{PcscError, PcscReader};
use pos::reader::Transport;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// How often a waiting payment looks whether it was cancelled.
const CARD_POLL: Duration = Duration::from_millis(300);

/// The hardware readers found by the last scan, and why some may be
/// missing.
#[derive(Debug, Clone, Default)]
pub(super) struct Scan {
    pub readers: Vec<ReaderInfo>,
    pub notes: Vec<HwNote>,
}

/// The reader state kept in `Shared`: the last scan, and which hardware
/// card wait is the current one (a cancelled one sees a newer number and
/// stops).
#[derive(Debug, Default)]
pub(super) struct HwState {
    pub scan: Scan,
    pub wait_id: u64,
}

fn note(source: HwSource, kind: HwNoteKind, detail: impl std::fmt::Display) -> HwNote {
    HwNote {
        source,
        kind,
        detail: detail.to_string(),
    }
}

/// Asks pcscd and libnfc which readers are attached. Never fails: what
/// went wrong becomes a note the window shows beside the list.
pub(super) fn scan() -> Scan {
    let mut s = Scan::default();
    match pos::reader::pcsc::list_readers() {
        Ok(list) if list.is_empty() => s.notes.push(note(
            HwSource::Pcsc,
            HwNoteKind::NoneFound,
            PcscError::NoReader,
        )),
        Ok(list) => s.readers.extend(list.into_iter().map(|r| ReaderInfo {
            id: format!("pcsc:{}", r.name),
            label: format!("PC/SC: {}", r.name),
            simulated: false,
        })),
        Err(e) => {
            let kind = match e {
                PcscError::NotRunning => HwNoteKind::NotRunning,
                PcscError::Permission => HwNoteKind::Permission,
                PcscError::NoReader => HwNoteKind::NoneFound,
                _ => HwNoteKind::Error,
            };
            s.notes.push(note(HwSource::Pcsc, kind, e));
        }
    }
    match pos::reader::nfc::list_devices() {
        Ok(list) => s.readers.extend(list.into_iter().map(|d| ReaderInfo {
            id: format!("nfc:{}", d.connstring),
            label: format!("libnfc: {}", d.connstring),
            simulated: false,
        })),
        Err(e) => {
            let kind = match e {
                NfcError::NoDevice { .. } => HwNoteKind::NoneFound,
                NfcError::Permission { .. } => HwNoteKind::Permission,
                _ => HwNoteKind::Error,
            };
            s.notes.push(note(HwSource::Nfc, kind, e));
        }
    }
    s
}

/// The simulator, then what the last scan found.
pub(super) fn readers(scan: &Scan) -> Vec<ReaderInfo> {
    let mut all = vec![ReaderInfo {
        id: SIM_READER.into(),
        label: "Built-in simulator (virtual cards)".into(),
        simulated: true,
    }];
    all.extend(scan.readers.iter().cloned());
    all
}

pub(super) fn is_hardware(id: &str) -> bool {
    id.starts_with("pcsc:") || id.starts_with("nfc:")
}

/// A libnfc reader the merchant may name though the scan cannot find it:
/// libnfc never probes serial ports (a PN532 on /dev/ttyUSB0).
pub(super) fn unscanned_ok(id: &str) -> bool {
    id.starts_with("nfc:")
}

fn no_reader(e: impl std::fmt::Display) -> CommandError {
    CommandError::new(ErrorCode::NoReader, e.to_string())
}

/// An open hardware reader.
enum HwReader {
    Pcsc(PcscReader),
    Nfc(NfcReader),
}

impl HwReader {
    fn open(id: &str) -> Result<HwReader, CommandError> {
        if let Some(name) = id.strip_prefix("pcsc:") {
            return PcscReader::open(name)
                .map(HwReader::Pcsc)
                .map_err(no_reader);
        }
        if let Some(conn) = id.strip_prefix("nfc:") {
            return NfcReader::open(conn).map(HwReader::Nfc).map_err(no_reader);
        }
        Err(no_reader(format!("{id:?} is not a hardware reader")))
    }

    /// `Ok(true)`: a card is in the field and connected.
    fn poll_card(&mut self, wait: Duration) -> Result<bool, CommandError> {
        match self {
            HwReader::Pcsc(r) => match r.wait_for_card(wait) {
                Ok(_) => Ok(true),
                Err(PcscError::NoCard { .. }) => Ok(false),
                Err(e) => Err(no_reader(e)),
            },
            HwReader::Nfc(r) => match r.wait_for_card(wait) {
                Ok(_) => Ok(true),
                Err(NfcError::NoCard { .. }) => Ok(false),
                Err(e) => Err(no_reader(e)),
            },
        }
    }

    fn transport(&mut self) -> &mut dyn Transport {
        match self {
            HwReader::Pcsc(r) => r,
            HwReader::Nfc(r) => r,
        }
    }

    /// Waits at most `timeout` for the field to be empty.
    fn wait_removed(&mut self, timeout: Duration) -> bool {
        match self {
            HwReader::Pcsc(r) => r.wait_for_removal(timeout).unwrap_or(true),
            HwReader::Nfc(r) => {
                // libnfc has no removal event: the card is gone when a
                // poll no longer finds it.
                let start = Instant::now();
                while start.elapsed() < timeout {
                    r.release();
                    match r.wait_for_card(Duration::from_millis(250)) {
                        Ok(_) => std::thread::sleep(Duration::from_millis(200)),
                        Err(_) => return true,
                    }
                }
                r.release();
                false
            }
        }
    }

    fn release(&mut self) {
        match self {
            HwReader::Pcsc(r) => r.release(),
            HwReader::Nfc(r) => r.release(),
        }
    }
}

/// Readers and printers.
impl Core {
    /// Scans for readers again (Settings' and first start's "Refresh").
    pub fn refresh_readers(&self) -> AppStatus {
        let found = scan();
        self.lock().hw.scan = found;
        self.status()
    }

    /// The chosen reader is a PC/SC or libnfc one: after `start_payment`
    /// the shell runs [`Core::wait_for_hardware_card`].
    pub fn uses_hardware_reader(&self) -> bool {
        self.lock()
            .settings
            .reader
            .as_deref()
            .is_some_and(is_hardware)
    }

    /// Waits on the chosen hardware reader for a card while the payment
    /// started by `start_payment` is pending, runs it as the simulator's
    /// "present card" does, then waits for the card to leave. Again after
    /// "try again". Blocking: call it off the UI thread.
    pub fn wait_for_hardware_card(&self, sink: &dyn Sink) -> Result<(), CommandError> {
        let (id, wait_id) = {
            let mut s = self.lock();
            s.hw.wait_id += 1;
            (s.settings.reader.clone().unwrap_or_default(), s.hw.wait_id)
        };
        let r = self.hardware_loop(&id, wait_id, sink);
        if let Err(e) = &r {
            self.lock().pending = None;
            sink.payment(&PaymentEvent::Failed { error: e.clone() });
            sink.status(&self.status());
        }
        r
    }

    fn still_waiting(&self, wait_id: u64) -> Option<super::Pending> {
        let s = self.lock();
        if s.hw.wait_id != wait_id {
            return None;
        }
        s.pending
    }

    fn hardware_loop(&self, id: &str, wait_id: u64, sink: &dyn Sink) -> Result<(), CommandError> {
        let mut reader = HwReader::open(id)?;
        // A card left in the field from the last payment must leave first
        // (Book A's removal): it must not pay this one unasked.
        let mut must_clear = true;
        loop {
            if self.still_waiting(wait_id).is_none() {
                return Ok(());
            }
            if must_clear {
                must_clear = !reader.wait_removed(CARD_POLL);
                continue;
            }
            if !reader.poll_card(CARD_POLL)? {
                continue;
            }
            if self.card_busy.swap(true, Ordering::SeqCst) {
                return Err(CommandError::new(ErrorCode::Busy, "the card is being read"));
            }
            // Cancelled between the card's arrival and now: leave it be.
            let Some(pending) = self.still_waiting(wait_id) else {
                reader.release();
                self.card_busy.store(false, Ordering::SeqCst);
                return Ok(());
            };
            let r = self.run_card(pending, id, sink, Some(reader.transport()));
            reader.release();
            self.card_busy.store(false, Ordering::SeqCst);
            sink.status(&self.status());
            r?;
            if self.still_waiting(wait_id).is_none() {
                return Ok(());
            }
            // "Try again": the same payment waits for the card anew.
            must_clear = true;
            sink.payment(&PaymentEvent::Ui {
                ui: ui(Message::PresentCard, Status::ReadyToRead, 0),
            });
        }
    }

    /// The system's printers, from `lpstat -e` (CUPS).
    pub fn printers(&self) -> PrinterList {
        list_printers()
    }

    /// Sends the receipt's PDF to the CUPS queue `queue` with `lp`.
    pub(super) fn print_cups(&self, tsc: u32, queue: &str) -> Result<SavedReceipt, CommandError> {
        let no_printer = |m: String| CommandError::new(ErrorCode::NoPrinter, m);
        if queue.is_empty() || queue.starts_with('-') {
            return Err(no_printer(format!("no printer queue {queue:?}")));
        }
        let pdf = self.receipt_of(tsc)?.to_pdf();
        let dir = self.opts.data_dir.join("receipts");
        std::fs::create_dir_all(&dir).map_err(internal)?;
        let path = dir.join(format!("receipt-{tsc}.pdf"));
        std::fs::write(&path, &pdf).map_err(internal)?;
        let out = Command::new("lp")
            .arg("-d")
            .arg(queue)
            .arg("-t")
            .arg(format!("SoftPOS receipt {tsc}"))
            .arg("--")
            .arg(&path)
            .output()
            .map_err(|e| {
                no_printer(format!(
                    "cannot run lp ({e}): install CUPS (Debian packages cups, cups-client)"
                ))
            })?;
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if !out.status.success() {
            return Err(no_printer(format!("{queue}: {}", said.trim())));
        }
        // "request id is office-12 (1 file(s))"
        let job = said
            .split_whitespace()
            .skip_while(|w| *w != "is")
            .nth(1)
            .unwrap_or("?")
            .to_string();
        Ok(SavedReceipt {
            path: format!("cups:{queue} ({job})"),
            bytes: pdf.len() as u64,
        })
    }
}

/// `lpstat -e` lists the queues; its errors become notes.
pub fn list_printers() -> PrinterList {
    let mut list = PrinterList {
        printers: Vec::new(),
        notes: Vec::new(),
    };
    let out = match Command::new("lpstat").arg("-e").output() {
        Ok(o) => o,
        Err(e) => {
            list.notes.push(note(
                HwSource::Cups,
                HwNoteKind::NotRunning,
                format!(
                    "cannot run lpstat ({e}): install CUPS (Debian packages cups, cups-client)"
                ),
            ));
            return list;
        }
    };
    let text = String::from_utf8_lossy(&out.stdout);
    list.printers = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|q| PrinterInfo {
            id: format!("cups:{q}"),
            label: format!("CUPS: {q}"),
        })
        .collect();
    let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
    if !out.status.success() {
        // lpstat says "Scheduler is not running" or cannot connect.
        let kind = if err.contains("not running") || err.contains("connect") {
            HwNoteKind::NotRunning
        } else {
            HwNoteKind::Error
        };
        list.notes.push(note(HwSource::Cups, kind, err));
    } else if list.printers.is_empty() {
        list.notes.push(note(
            HwSource::Cups,
            HwNoteKind::NoneFound,
            "CUPS has no printer queue (add one with lpadmin or the CUPS web page)",
        ));
    }
    list
}
