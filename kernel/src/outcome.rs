//! The end of a transaction: the Outcome of EMV Book A, with its UI request,
//! the CVM, the ODA result and the data record for authorisation.

use crate::pan::MaskedPan;
use crate::tlv::Tag;
use serde::{Serialize, Serializer};
use std::collections::BTreeMap;

/// EMV Book A §6.2 outcomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeKind {
    Approved,
    Declined,
    OnlineRequest,
    TryAnotherInterface,
    EndApplication,
    TryAgain,
    SelectNext,
}

impl OutcomeKind {
    /// The name used in recorded sessions (`expect.outcome`).
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeKind::Approved => "approved",
            OutcomeKind::Declined => "declined",
            OutcomeKind::OnlineRequest => "online_request",
            OutcomeKind::TryAnotherInterface => "try_another_interface",
            OutcomeKind::EndApplication => "end_application",
            OutcomeKind::TryAgain => "try_again",
            OutcomeKind::SelectNext => "select_next",
        }
    }
}

/// The cardholder verification the kernel settled on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cvm {
    NoCvm,
    Signature,
    OnlinePin,
    /// Consumer device CVM (the phone or watch verified the cardholder).
    Cdcvm,
    /// No CVM was decided (the transaction ended before CVM processing).
    None,
}

impl Cvm {
    pub fn as_str(self) -> &'static str {
        match self {
            Cvm::NoCvm => "no_cvm",
            Cvm::Signature => "signature",
            Cvm::OnlinePin => "online_pin",
            Cvm::Cdcvm => "cdcvm",
            Cvm::None => "none",
        }
    }
}

/// Offline data authentication, as the session format reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OdaStatus {
    Passed,
    Failed,
    NotPerformed,
}

impl OdaStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OdaStatus::Passed => "passed",
            OdaStatus::Failed => "failed",
            OdaStatus::NotPerformed => "not_performed",
        }
    }
}

/// Which ODA method was used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum OdaMethod {
    Sda,
    Dda,
    Fdda,
    Cda,
}

/// Book A §7.2 message identifiers (the ones a contactless reader shows).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Message {
    Approved,
    NotAuthorised,
    PleaseEnterPin,
    ProcessingError,
    RemoveCard,
    Welcome,
    PresentCard,
    Processing,
    CardReadOkRemoveCard,
    InsertOrSwipeCard,
    PresentOneCardOnly,
    ApprovedPleaseSign,
    AuthorisingPleaseWait,
    InsertSwipeOrTryAnotherCard,
    PleaseInsertCard,
    SeePhoneForInstructions,
    PresentCardAgain,
    None,
}

impl Message {
    /// The English text of Book A Table 7-2.
    pub fn text(self) -> &'static str {
        match self {
            Message::Approved => "Approved",
            Message::NotAuthorised => "Not Authorised",
            Message::PleaseEnterPin => "Please Enter Your PIN",
            Message::ProcessingError => "Processing Error",
            Message::RemoveCard => "Remove Card",
            Message::Welcome => "Welcome",
            Message::PresentCard => "Present Card",
            Message::Processing => "Processing",
            Message::CardReadOkRemoveCard => "Card Read OK, Please Remove Card",
            Message::InsertOrSwipeCard => "Please Insert or Swipe Card",
            Message::PresentOneCardOnly => "Please Present One Card Only",
            Message::ApprovedPleaseSign => "Approved, Please Sign",
            Message::AuthorisingPleaseWait => "Authorising, Please Wait",
            Message::InsertSwipeOrTryAnotherCard => "Insert, Swipe or Try Another Card",
            Message::PleaseInsertCard => "Please Insert Card",
            Message::SeePhoneForInstructions => "See Phone for Instructions",
            Message::PresentCardAgain => "Present Card Again",
            Message::None => "",
        }
    }
}

/// Book A §7.3 status (the four lights).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    NotReady,
    Idle,
    ReadyToRead,
    Processing,
    CardReadSuccessfully,
    ProcessingError,
}

/// A request to the user interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct UiRequest {
    pub message: Message,
    pub status: Status,
    /// How long to show it, in milliseconds.
    pub hold_ms: u32,
}

/// Book A §6.2.2 restart points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum RestartPoint {
    /// B: poll for the card again (Try Again, a phone's second tap).
    B,
    /// C: select the next combination of the candidate list.
    C,
}

/// Book A §6.2 Outcome Parameter Set, beside the outcome itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct OutcomeParameters {
    /// Where Entry Point restarts, when it does.
    pub start: Option<RestartPoint>,
    /// "Alternate Interface Preference": the contact chip.
    pub prefer_contact_chip: bool,
    /// "Field Off Request": how long to switch the field off, in ms.
    pub field_off_ms: Option<u32>,
    /// "Removal Timeout": how long to wait for the card to leave, in ms.
    pub removal_timeout_ms: Option<u32>,
}

impl OutcomeParameters {
    /// Book A's usual parameters for each outcome.
    pub fn for_kind(kind: OutcomeKind) -> OutcomeParameters {
        let mut p = OutcomeParameters::default();
        match kind {
            OutcomeKind::TryAgain => p.start = Some(RestartPoint::B),
            OutcomeKind::SelectNext => p.start = Some(RestartPoint::C),
            OutcomeKind::TryAnotherInterface => p.prefer_contact_chip = true,
            OutcomeKind::Approved | OutcomeKind::Declined | OutcomeKind::OnlineRequest => {
                p.removal_timeout_ms = Some(0)
            }
            OutcomeKind::EndApplication => {}
        }
        p
    }
}

/// Why the transaction ended the way it did, grouped by who is at fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum Reason {
    /// The card sent bytes that are not what the specification allows.
    CardSentGarbage(String),
    /// The card broke a rule (e.g. a mandatory object missing, a wrong SW).
    CardBrokeRule(String),
    /// The card cannot do what the terminal needs (no matching AID, ...).
    CardIncompatible(String),
    /// The card left the field or the reader failed.
    Communication(String),
    /// The terminal's own configuration is wrong.
    Configuration(String),
    /// The card or the terminal's risk rules decided.
    Decision(String),
}

impl Reason {
    pub fn text(&self) -> &str {
        match self {
            Reason::CardSentGarbage(s)
            | Reason::CardBrokeRule(s)
            | Reason::CardIncompatible(s)
            | Reason::Communication(s)
            | Reason::Configuration(s)
            | Reason::Decision(s) => s,
        }
    }
}

/// The data record for authorisation: tag to value, in tag order. These
/// are the tags that go into ISO 8583 field 55. The PAN, when present, is
/// carried here because the acquirer needs it; callers mask it before
/// storing or printing.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct DataRecord(pub BTreeMap<Tag, Vec<u8>>);

impl std::fmt::Debug for DataRecord {
    /// Like the serialised form: card numbers and track data never show,
    /// even in a `{:?}` that lands in a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        debug_masked(self.0.iter(), f)
    }
}

/// Debug output of tag/value pairs with the sensitive tags masked.
pub(crate) fn debug_masked<'a>(
    items: impl Iterator<Item = (&'a Tag, &'a Vec<u8>)>,
    f: &mut std::fmt::Formatter<'_>,
) -> std::fmt::Result {
    let mut m = f.debug_map();
    for (tag, value) in items {
        if crate::tags::is_sensitive(*tag) {
            m.entry(tag, &format_args!("<{} bytes masked>", value.len()));
        } else {
            m.entry(tag, &format_args!("{}", hex::encode_upper(value)));
        }
    }
    m.finish()
}

impl DataRecord {
    pub fn get(&self, tag: Tag) -> Option<&[u8]> {
        self.0.get(&tag).map(Vec::as_slice)
    }

    /// BER-TLV encoding of the record, as field 55 carries it.
    pub fn to_tlv(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (tag, value) in &self.0 {
            // Values are taken from parsed TLVs or fixed-size terminal data.
            let _ = crate::tlv::encode(*tag, value, &mut out);
        }
        out
    }
}

impl Serialize for DataRecord {
    /// Hex strings by tag, with the clear PAN and track data left out: a
    /// serialised record is for logs, recordings and screens.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        for (tag, value) in &self.0 {
            if crate::tags::is_sensitive(*tag) {
                continue;
            }
            m.serialize_entry(&tag.to_string(), &hex::encode_upper(value))?;
        }
        m.end()
    }
}

/// The end of a transaction.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub kind: OutcomeKind,
    pub cvm: Cvm,
    pub oda: OdaStatus,
    pub oda_method: Option<OdaMethod>,
    /// Why, in words a merchant or QA engineer can act on.
    pub reason: Option<Reason>,
    /// What to show when the outcome is reached.
    pub ui: UiRequest,
    /// Book A's "Card Read OK, Please Remove Card": shown as soon as the
    /// kernel needs the card no more, before the outcome's own message.
    pub card_read: Option<UiRequest>,
    /// Book A "UI Request on Restart Present" (e.g. Try Again → present
    /// card again).
    pub ui_on_restart: Option<UiRequest>,
    /// The rest of Book A's Outcome Parameter Set: where to restart,
    /// which interface to prefer, and how long to keep the field off.
    pub parameters: OutcomeParameters,
    /// Kernel ID used (2, 3, …), once a kernel was activated.
    pub kernel: Option<u8>,
    /// The selected application's AID (hex).
    #[serde(serialize_with = "ser_hex_opt")]
    pub aid: Option<Vec<u8>>,
    pub application_label: Option<String>,
    pub masked_pan: Option<MaskedPan>,
    #[serde(serialize_with = "ser_hex5")]
    pub tvr: [u8; 5],
    pub data_record: DataRecord,
}

fn ser_hex_opt<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.serialize_some(&hex::encode_upper(v)),
        None => s.serialize_none(),
    }
}

fn ser_hex5<S: Serializer>(v: &[u8; 5], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode_upper(v))
}

impl Outcome {
    /// A bare outcome before any application was chosen.
    pub fn new(kind: OutcomeKind, reason: Option<Reason>) -> Outcome {
        Outcome {
            kind,
            cvm: Cvm::None,
            oda: OdaStatus::NotPerformed,
            oda_method: None,
            reason,
            ui: default_ui(kind),
            card_read: None,
            ui_on_restart: None,
            parameters: OutcomeParameters::for_kind(kind),
            kernel: None,
            aid: None,
            application_label: None,
            masked_pan: None,
            tvr: [0; 5],
            data_record: DataRecord::default(),
        }
    }
}

/// Book A's usual UI request for each outcome.
pub fn default_ui(kind: OutcomeKind) -> UiRequest {
    let (message, status, hold_ms) = match kind {
        OutcomeKind::Approved => (Message::Approved, Status::CardReadSuccessfully, 1500),
        OutcomeKind::Declined => (Message::NotAuthorised, Status::CardReadSuccessfully, 1500),
        OutcomeKind::OnlineRequest => (
            Message::AuthorisingPleaseWait,
            Status::CardReadSuccessfully,
            0,
        ),
        OutcomeKind::TryAnotherInterface => (
            Message::InsertSwipeOrTryAnotherCard,
            Status::ProcessingError,
            1500,
        ),
        OutcomeKind::EndApplication => (
            Message::InsertSwipeOrTryAnotherCard,
            Status::ProcessingError,
            1500,
        ),
        OutcomeKind::TryAgain => (Message::PresentCardAgain, Status::ReadyToRead, 0),
        OutcomeKind::SelectNext => (Message::Processing, Status::Processing, 0),
    };
    UiRequest {
        message,
        status,
        hold_ms,
    }
}

/// Tags never written to a log, trace or recording in clear.
pub const SENSITIVE: &[Tag] = &[
    Tag::from_u32_unchecked(0x5A),
    Tag::from_u32_unchecked(0x57),
    Tag::from_u32_unchecked(0x56),
    Tag::from_u32_unchecked(0x9F6B),
    Tag::from_u32_unchecked(0x5F20),
    Tag::from_u32_unchecked(0x9F0B),
];
