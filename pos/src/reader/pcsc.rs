//! The `pcsc` transport: a PC/SC reader through pcscd (pcsc-lite), such as
//! an ACS ACR122U, or vsmartcard's vpcd reader with a `cardsim` card behind
//! it (how CI proves this code without hardware).
//!
//! Command APDUs go to the card as they are and answers come back as they
//! are: pcsc-lite leaves `61xx` and `6Cxx` to the host, and the kernel
//! already sends GET RESPONSE and resends with the right Le itself, so
//! doing it here too would fetch twice. Only short APDUs are used.
//!
//! Every call blocks (pcsc-lite has no asynchronous API); callers with an
//! async runtime run a tap on a blocking thread. The CLI is synchronous.

use super::{Reply, Transport, TransportError};
use pcsc::{Card, Context, Disposition, Protocols, ReaderState, Scope, ShareMode, State};
use std::ffi::CString;
use std::path::Path;
use std::time::{Duration, Instant};

/// Where pcscd listens for clients: if it exists while pcscd refuses us,
/// the daemon runs and the refusal is about permission.
const PCSCD_SOCKET: &str = "/run/pcscd/pcscd.comm";

/// How long to wait for the reader to report a card gone after a failed
/// exchange: pcscd polls readers without card events every 400 ms.
const REMOVAL_NOTICE: Duration = Duration::from_millis(1000);

/// Why a PC/SC reader cannot be used, with what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PcscError {
    #[error(
        "pcscd is not running: start it with `sudo systemctl start pcscd` or `pcscd -f` \
         (Debian package pcscd)"
    )]
    NotRunning,
    #[error(
        "pcscd refused this user: allow it with a polkit rule for \
         org.debian.pcsc-lite.access_pcsc and access_card, or run as root"
    )]
    Permission,
    #[error(
        "no PC/SC reader is connected: plug one in (e.g. an ACS ACR122U) and check that \
         `pcsc_scan` (Debian package pcsc-tools) shows it"
    )]
    NoReader,
    #[error("no PC/SC reader matches {wanted:?}; connected: {}", quoted(.available))]
    UnknownReader {
        wanted: String,
        available: Vec<String>,
    },
    #[error("{wanted:?} matches several PC/SC readers: {}; give more of the name", quoted(.matches))]
    AmbiguousReader {
        wanted: String,
        matches: Vec<String>,
    },
    #[error("no card was presented to {reader:?} within {waited_ms} ms")]
    NoCard { reader: String, waited_ms: u64 },
    #[error("another program holds the card in {reader:?}; close it and tap again")]
    Busy { reader: String },
    #[error(
        "the card in {reader:?} does not answer as a smart card ({why}): present one EMV card"
    )]
    MuteCard { reader: String, why: String },
    #[error("the reader {reader:?} was unplugged or is unavailable")]
    ReaderGone { reader: String },
    #[error("PC/SC: {0}")]
    Other(String),
}

fn quoted(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Errors every PC/SC call can give: the daemon or our right to use it.
fn service_error(e: pcsc::Error) -> PcscError {
    match e {
        pcsc::Error::NoAccess | pcsc::Error::SecurityViolation => PcscError::Permission,
        // Older pcsc-lite tells a client polkit refused that the service
        // stopped; the socket being there tells that case from a daemon
        // that is not running.
        pcsc::Error::NoService | pcsc::Error::ServiceStopped | pcsc::Error::CommError => {
            if Path::new(PCSCD_SOCKET).exists() {
                PcscError::Permission
            } else {
                PcscError::NotRunning
            }
        }
        pcsc::Error::NoReadersAvailable => PcscError::NoReader,
        other => PcscError::Other(other.to_string()),
    }
}

/// A reader pcscd knows, and whether a card is in its field now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReaderInfo {
    pub name: String,
    pub card_present: bool,
    /// The card's ATR (or the one the reader builds for a contactless card).
    pub atr: Option<Vec<u8>>,
}

fn establish() -> Result<Context, PcscError> {
    Context::establish(Scope::User).map_err(service_error)
}

fn reader_names(ctx: &Context) -> Result<Vec<String>, PcscError> {
    match ctx.list_readers_owned() {
        Ok(names) => Ok(names
            .into_iter()
            .map(|n| n.to_string_lossy().into_owned())
            .collect()),
        Err(pcsc::Error::NoReadersAvailable) => Ok(Vec::new()),
        Err(e) => Err(service_error(e)),
    }
}

/// The readers pcscd knows now, with the card state of each. An empty list
/// is not an error here: `softpos readers` says so itself.
pub fn list_readers() -> Result<Vec<ReaderInfo>, PcscError> {
    let ctx = establish()?;
    let names = reader_names(&ctx)?;
    let mut states = Vec::with_capacity(names.len());
    for n in &names {
        let c = CString::new(n.as_str()).map_err(|e| PcscError::Other(e.to_string()))?;
        states.push(ReaderState::new(c, State::UNAWARE));
    }
    if !states.is_empty() {
        ctx.get_status_change(Duration::ZERO, &mut states)
            .map_err(service_error)?;
    }
    Ok(names
        .into_iter()
        .zip(&states)
        .map(|(name, s)| {
            let present = card_usable(s.event_state());
            ReaderInfo {
                name,
                card_present: present,
                atr: (present && !s.atr().is_empty()).then(|| s.atr().to_vec()),
            }
        })
        .collect())
}

fn card_usable(state: State) -> bool {
    state.contains(State::PRESENT) && !state.contains(State::MUTE)
}

/// Picks the reader `wanted` names: the exact name, else the one reader
/// whose name contains it (case ignored), else the only reader when
/// `wanted` is empty.
pub fn resolve_reader(wanted: &str, available: &[String]) -> Result<String, PcscError> {
    if available.is_empty() {
        return Err(PcscError::NoReader);
    }
    if let Some(exact) = available.iter().find(|n| n.as_str() == wanted) {
        return Ok(exact.clone());
    }
    let w = wanted.to_lowercase();
    let matches: Vec<String> = available
        .iter()
        .filter(|n| n.to_lowercase().contains(&w))
        .cloned()
        .collect();
    match matches.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(PcscError::UnknownReader {
            wanted: wanted.to_string(),
            available: available.to_vec(),
        }),
        _ => Err(PcscError::AmbiguousReader {
            wanted: wanted.to_string(),
            matches,
        }),
    }
}

/// One PC/SC reader and, once a card is presented, the connection to it.
pub struct PcscReader {
    ctx: Context,
    reader: CString,
    name: String,
    card: Option<Card>,
    atr: Vec<u8>,
    buffer: Vec<u8>,
}

impl std::fmt::Debug for PcscReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcscReader")
            .field("name", &self.name)
            .field("connected", &self.card.is_some())
            .finish_non_exhaustive()
    }
}

impl PcscReader {
    /// Opens the reader `wanted` names (see [`resolve_reader`]).
    pub fn open(wanted: &str) -> Result<PcscReader, PcscError> {
        let ctx = establish()?;
        let name = resolve_reader(wanted, &reader_names(&ctx)?)?;
        let reader = CString::new(name.as_str()).map_err(|e| PcscError::Other(e.to_string()))?;
        Ok(PcscReader {
            ctx,
            reader,
            name,
            card: None,
            atr: Vec::new(),
            buffer: vec![0; pcsc::MAX_BUFFER_SIZE],
        })
    }

    /// The reader's own name, as pcscd gives it.
    pub fn reader_name(&self) -> &str {
        &self.name
    }

    /// The ATR of the card connected by [`PcscReader::wait_for_card`].
    pub fn atr(&self) -> &[u8] {
        &self.atr
    }

    /// Waits at most `timeout` for a card in the field and connects to it
    /// (T=1, which contactless readers use for ISO 14443-4 cards; T=0 if
    /// the card offers nothing else). Returns its ATR.
    pub fn wait_for_card(&mut self, timeout: Duration) -> Result<Vec<u8>, PcscError> {
        self.release();
        let start = Instant::now();
        let mut states = [ReaderState::new(self.reader.clone(), State::UNAWARE)];
        loop {
            let left = timeout.saturating_sub(start.elapsed());
            match self.ctx.get_status_change(left, &mut states) {
                Ok(()) => {}
                Err(pcsc::Error::Timeout) => {
                    return Err(PcscError::NoCard {
                        reader: self.name.clone(),
                        waited_ms: millis(start.elapsed()),
                    })
                }
                Err(pcsc::Error::UnknownReader | pcsc::Error::ReaderUnavailable) => {
                    return Err(PcscError::ReaderGone {
                        reader: self.name.clone(),
                    })
                }
                Err(e) => return Err(service_error(e)),
            }
            let [s] = &mut states;
            let state = s.event_state();
            if state.contains(State::UNKNOWN) || state.contains(State::UNAVAILABLE) {
                return Err(PcscError::ReaderGone {
                    reader: self.name.clone(),
                });
            }
            if card_usable(state) {
                return self.connect();
            }
            s.sync_current_state();
            if left.is_zero() {
                return Err(PcscError::NoCard {
                    reader: self.name.clone(),
                    waited_ms: millis(start.elapsed()),
                });
            }
        }
    }

    fn connect(&mut self) -> Result<Vec<u8>, PcscError> {
        // Exclusive: nothing else may talk to the card during a payment.
        let card = match self
            .ctx
            .connect(&self.reader, ShareMode::Exclusive, Protocols::T1)
        {
            Err(pcsc::Error::ProtoMismatch) => {
                self.ctx
                    .connect(&self.reader, ShareMode::Exclusive, Protocols::T0)
            }
            other => other,
        };
        let card = card.map_err(|e| match e {
            pcsc::Error::SharingViolation => PcscError::Busy {
                reader: self.name.clone(),
            },
            pcsc::Error::UnresponsiveCard
            | pcsc::Error::UnsupportedCard
            | pcsc::Error::UnpoweredCard
            | pcsc::Error::ProtoMismatch
            | pcsc::Error::NoSmartcard
            | pcsc::Error::RemovedCard => PcscError::MuteCard {
                reader: self.name.clone(),
                why: e.to_string(),
            },
            pcsc::Error::UnknownReader | pcsc::Error::ReaderUnavailable => PcscError::ReaderGone {
                reader: self.name.clone(),
            },
            other => service_error(other),
        })?;
        // SCardStatus gives the ATR with every driver; the ATR attribute
        // is optional (vpcd has none).
        self.atr = card
            .status2_owned()
            .map(|s| s.atr().to_vec())
            .unwrap_or_default();
        self.card = Some(card);
        Ok(self.atr.clone())
    }

    /// Ends the connection to the card (which is reset for the next tap).
    pub fn release(&mut self) {
        if let Some(card) = self.card.take() {
            // A card already gone cannot be reset; nothing else to do.
            let _ = card.disconnect(Disposition::ResetCard);
        }
        self.atr.clear();
    }

    /// Waits at most `timeout` for the field to be empty, so the next tap
    /// cannot be answered by the card of the last one. `Ok(false)` if a
    /// card is still there.
    pub fn wait_for_removal(&mut self, timeout: Duration) -> Result<bool, PcscError> {
        self.release();
        let start = Instant::now();
        let mut states = [ReaderState::new(self.reader.clone(), State::UNAWARE)];
        loop {
            let left = timeout.saturating_sub(start.elapsed());
            match self.ctx.get_status_change(left, &mut states) {
                Ok(()) => {}
                Err(pcsc::Error::Timeout) => return Ok(false),
                Err(pcsc::Error::UnknownReader | pcsc::Error::ReaderUnavailable) => {
                    return Err(PcscError::ReaderGone {
                        reader: self.name.clone(),
                    })
                }
                Err(e) => return Err(service_error(e)),
            }
            let [s] = &mut states;
            if !s.event_state().contains(State::PRESENT) {
                return Ok(true);
            }
            s.sync_current_state();
            if left.is_zero() {
                return Ok(false);
            }
        }
    }

    /// Whether the card has left the field, waiting at most `wait` for the
    /// reader to notice: asked after an exchange that failed or came back
    /// without a status word, to tell a card taken away from a broken
    /// reader. Readers poll for the card, so absence shows a little late.
    fn card_left_within(&self, wait: Duration) -> bool {
        let start = Instant::now();
        let mut states = [ReaderState::new(self.reader.clone(), State::UNAWARE)];
        loop {
            let left = wait.saturating_sub(start.elapsed());
            match self.ctx.get_status_change(left, &mut states) {
                Ok(()) => {}
                Err(pcsc::Error::Timeout) => return false,
                // The reader itself is gone: no card to talk to either.
                Err(_) => return true,
            }
            let [s] = &mut states;
            if !card_usable(s.event_state()) {
                return true;
            }
            s.sync_current_state();
            if left.is_zero() {
                return false;
            }
        }
    }
}

impl Drop for PcscReader {
    fn drop(&mut self) {
        self.release();
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Transport for PcscReader {
    fn capabilities(&self) -> super::Capabilities {
        // pcscd reports card arrival and removal; this transport sends short
        // APDUs only.
        super::Capabilities {
            type_a: true,
            type_b: true,
            extended_apdu: false,
            card_events: true,
        }
    }

    fn name(&self) -> String {
        format!("pcsc:{}", self.name)
    }

    /// pcsc-lite has no per-command timeout: the driver bounds the wait.
    /// An answer that comes after `deadline` is reported as a timeout, as
    /// the sim transport does with a slow card's reported time.
    fn transceive(&mut self, command: &[u8], deadline: Duration) -> Result<Reply, TransportError> {
        let Some(card) = &self.card else {
            return Err(TransportError::CardRemoved);
        };
        let start = Instant::now();
        let result = card.transmit(command, &mut self.buffer).map(<[u8]>::to_vec);
        let elapsed_ms = millis(start.elapsed());
        let removal_wait = deadline.min(REMOVAL_NOTICE);
        let bytes = match result {
            Ok(b) if b.len() < 2 && self.card_left_within(removal_wait) => {
                // vpcd, and readers like it, answer "nothing" for a card
                // that left mid-exchange.
                self.release();
                return Err(TransportError::CardRemoved);
            }
            Ok(b) => b,
            Err(e) => {
                let err = match e {
                    pcsc::Error::RemovedCard
                    | pcsc::Error::NoSmartcard
                    | pcsc::Error::ResetCard
                    | pcsc::Error::UnpoweredCard => TransportError::CardRemoved,
                    pcsc::Error::ReaderUnavailable | pcsc::Error::UnknownReader => {
                        TransportError::Reader(format!("the reader {:?} was unplugged", self.name))
                    }
                    pcsc::Error::NoService | pcsc::Error::ServiceStopped => {
                        TransportError::Reader("pcscd stopped".into())
                    }
                    // A contactless card that leaves mid-exchange shows as a
                    // failed transmission first and as absent a moment later.
                    _ if self.card_left_within(removal_wait) => TransportError::CardRemoved,
                    other => TransportError::Reader(format!("{:?}: {other}", self.name)),
                };
                if err == TransportError::CardRemoved {
                    self.release();
                }
                return Err(err);
            }
        };
        let deadline_ms = millis(deadline);
        if elapsed_ms > deadline_ms {
            return Err(TransportError::Timeout { deadline_ms });
        }
        Ok(Reply { bytes, elapsed_ms })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn reader_names_resolve_exactly_then_by_unique_part() {
        let all = names(&[
            "ACS ACR122U PICC Interface 00 00",
            "Virtual PCD 00 00",
            "Virtual PCD 00 01",
        ]);
        assert_eq!(
            resolve_reader("Virtual PCD 00 00", &all).unwrap(),
            "Virtual PCD 00 00"
        );
        assert_eq!(
            resolve_reader("acr122", &all).unwrap(),
            "ACS ACR122U PICC Interface 00 00"
        );
        // Tampered twins: a part two readers share, one nobody has, none at all.
        assert!(matches!(
            resolve_reader("virtual", &all),
            Err(PcscError::AmbiguousReader { matches, .. }) if matches.len() == 2
        ));
        let e = resolve_reader("omnikey", &all).unwrap_err();
        assert!(e.to_string().contains("\"Virtual PCD 00 01\""), "{e}");
        assert_eq!(resolve_reader("", &[]), Err(PcscError::NoReader));
        assert_eq!(
            resolve_reader("", &names(&["Only One"])).unwrap(),
            "Only One"
        );
    }

    #[test]
    fn messages_say_what_to_do() {
        assert!(PcscError::NotRunning
            .to_string()
            .contains("sudo systemctl start pcscd"));
        assert!(PcscError::NotRunning.to_string().contains("pcscd -f"));
        assert!(PcscError::Permission.to_string().contains("polkit"));
        assert_eq!(
            service_error(pcsc::Error::NoReadersAvailable),
            PcscError::NoReader
        );
        assert_eq!(
            service_error(pcsc::Error::SecurityViolation),
            PcscError::Permission
        );
    }
}
