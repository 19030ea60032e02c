//! The transaction state machine: bytes in, bytes out, no I/O.
//!
//! Entry Point selects an application, then Kernel 3 (Visa qVSDC, also
//! used for UnionPay qUICS, kernel 7) or Kernel 2 (Mastercard M/Chip, also
//! used for the EMV-mode kernels 4–6) runs it to an Outcome. Anything the
//! card does wrong ends in an Outcome with a [`Reason`]; [`KernelError`] is
//! only for a caller's misuse.

use crate::apdu::{CommandApdu, ResponseApdu};
use crate::carddata::{parse_afl, AflEntry, CardData};
use crate::config::{Start, TerminalConfig, TransactionInputs};
use crate::cvm::{self, CvmDecision};
use crate::dol;
use crate::entry::{self, Candidate};
use crate::odaflow;
use crate::outcome::{
    default_ui, Cvm, DataRecord, Message, OdaMethod, OdaStatus, Outcome, OutcomeKind, Reason,
    Status, UiRequest,
};
use crate::pan::Pan;
use crate::tags::t;
use crate::tlv::{self, Tag};
use crate::tvr::{self, Tvr};
use std::collections::BTreeMap;

/// What the caller must do next.
#[derive(Debug, Clone)]
pub enum Step {
    /// Send this command to the card and pass its answer to `handle`.
    Transmit(CommandApdu),
    /// The transaction is over.
    Done(Box<Outcome>),
}

/// Misuse of the kernel by its caller. Anything the card does wrong ends
/// in an `Outcome`, never in this error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KernelError {
    #[error("the transaction is already over")]
    Finished,
    #[error("terminal configuration: {0}")]
    Config(String),
    #[error("the kernel needed unpredictable number #{0} but the caller gave fewer")]
    OutOfUnpredictableNumbers(usize),
}

/// At most this many `61xx` continuations for one command, and this much
/// data in all: a card that keeps chaining is broken, not generous.
const MAX_CHAIN: u8 = 16;
const MAX_RESPONSE: usize = 4096;

/// Cryptogram types in GENERATE AC P1 and CID bits 8–7.
const AAC: u8 = 0x00;
const TC: u8 = 0x40;
const ARQC: u8 = 0x80;
const CDA_REQUEST: u8 = 0x10;

#[derive(Debug, Clone)]
enum State {
    SelectPpse,
    FinalSelect,
    Gpo,
    ReadRecords {
        afl: Vec<AflEntry>,
        entry: usize,
        record: u8,
    },
    GenerateAc {
        requested: u8,
        cda: bool,
    },
    Done,
}

/// One contactless transaction, from PPSE to outcome.
pub struct Transaction {
    config: TerminalConfig,
    inputs: TransactionInputs,
    state: State,
    candidates: Vec<Candidate>,
    current: Option<Candidate>,
    label: Option<String>,
    card: CardData,
    tvr: Tvr,
    cvm: Cvm,
    cvm_results: [u8; 3],
    /// Kernel 2 replaces Terminal Capabilities byte 2 with the CVM
    /// capability for the amount (C-2 456.32).
    terminal_caps: Option<[u8; 3]>,
    pdol_data: Vec<u8>,
    cdol1_data: Vec<u8>,
    /// Static data to be authenticated, built while reading records.
    oda_static: Vec<u8>,
    oda_static_invalid: bool,
    last_command: Option<CommandApdu>,
    chained: Vec<u8>,
    chain_count: u8,
    le_retried: bool,
}

impl Transaction {
    /// Starts a transaction and returns the first command.
    pub fn start(
        config: TerminalConfig,
        inputs: TransactionInputs,
    ) -> Result<(Transaction, Step), KernelError> {
        if config.aids.is_empty() {
            return Err(KernelError::Config("no AID is configured".into()));
        }
        if let Some(a) = config
            .aids
            .iter()
            .find(|a| !(5..=16).contains(&a.aid.len()))
        {
            return Err(KernelError::Config(format!(
                "AID {} is not 5 to 16 bytes",
                hex::encode_upper(&a.aid)
            )));
        }
        let mut tx = Transaction {
            config,
            inputs,
            state: State::SelectPpse,
            candidates: Vec::new(),
            current: None,
            label: None,
            card: CardData::default(),
            tvr: Tvr::default(),
            cvm: Cvm::None,
            cvm_results: [0x3F, 0x00, 0x00],
            terminal_caps: None,
            pdol_data: Vec::new(),
            cdol1_data: Vec::new(),
            oda_static: Vec::new(),
            oda_static_invalid: false,
            last_command: None,
            chained: Vec::new(),
            chain_count: 0,
            le_retried: false,
        };
        if entry::all_not_allowed(&tx.config, &tx.inputs) {
            let step = tx.finish(
                OutcomeKind::TryAnotherInterface,
                Some(Reason::Decision(
                    "the amount is at or over every contactless transaction limit".into(),
                )),
            );
            return Ok((tx, step));
        }
        let step = match tx.inputs.start {
            Start::Ppse => tx.send(CommandApdu::select(entry::PPSE)),
            Start::FinalSelection => {
                let first = tx.config.aids.first().cloned();
                match first {
                    Some(aid) => {
                        let indicators = entry::preprocess(&tx.config, &aid, &tx.inputs);
                        tx.candidates = vec![Candidate {
                            adf_name: aid.aid.clone(),
                            kernel: aid.kernel,
                            priority: 0,
                            label: None,
                            aid_index: 0,
                            indicators,
                        }];
                        tx.select_next_candidate()
                    }
                    None => return Err(KernelError::Config("no AID is configured".into())),
                }
            }
        };
        Ok((tx, step))
    }

    /// Consumes the card's answer to the last command.
    pub fn handle(&mut self, response: ResponseApdu) -> Result<Step, KernelError> {
        if matches!(self.state, State::Done) {
            return Err(KernelError::Finished);
        }
        // ISO 7816-4 transport rules, handled here so every reader and every
        // recording behaves the same.
        let sw = response.sw;
        if sw.sw1() == 0x61 {
            self.chain_count = self.chain_count.saturating_add(1);
            if self.chain_count > MAX_CHAIN
                || self.chained.len().saturating_add(response.data.len()) > MAX_RESPONSE
            {
                return Ok(self.finish(
                    OutcomeKind::EndApplication,
                    Some(Reason::CardBrokeRule(
                        "the card chained too much data (61xx)".into(),
                    )),
                ));
            }
            self.chained.extend_from_slice(&response.data);
            return Ok(self.send(CommandApdu::get_response(sw.sw2())));
        }
        if sw.sw1() == 0x6C {
            if self.le_retried {
                return Ok(self.finish(
                    OutcomeKind::EndApplication,
                    Some(Reason::CardBrokeRule(
                        "the card asked twice for another Le (6Cxx)".into(),
                    )),
                ));
            }
            if let Some(last) = &self.last_command {
                self.le_retried = true;
                return Ok(Step::Transmit(last.with_le(sw.sw2())));
            }
        }
        let mut data = std::mem::take(&mut self.chained);
        data.extend_from_slice(&response.data);
        self.chain_count = 0;
        self.le_retried = false;
        let response = ResponseApdu { data, sw };
        let state = std::mem::replace(&mut self.state, State::Done);
        self.dispatch(state, response)
    }

    /// The card left the field or the reader failed: Book A says Try Again
    /// with "present card again".
    pub fn card_removed(&mut self) -> Outcome {
        match self.finish(
            OutcomeKind::TryAgain,
            Some(Reason::Communication(
                "the card left the field before the end".into(),
            )),
        ) {
            Step::Done(o) => *o,
            Step::Transmit(_) => Outcome::new(OutcomeKind::TryAgain, None),
        }
    }

    fn dispatch(&mut self, state: State, r: ResponseApdu) -> Result<Step, KernelError> {
        match state {
            State::SelectPpse => Ok(self.on_ppse(r)),
            State::FinalSelect => self.on_final_select(r),
            State::Gpo => self.on_gpo(r),
            State::ReadRecords { afl, entry, record } => self.on_record(r, afl, entry, record),
            State::GenerateAc { requested, cda } => Ok(self.on_generate_ac(r, requested, cda)),
            State::Done => Err(KernelError::Finished),
        }
    }

    fn send(&mut self, c: CommandApdu) -> Step {
        self.last_command = Some(c.clone());
        Step::Transmit(c)
    }

    // ----- Entry Point -------------------------------------------------

    fn on_ppse(&mut self, r: ResponseApdu) -> Step {
        if !r.sw.is_ok() {
            return self.finish(
                OutcomeKind::EndApplication,
                Some(Reason::CardIncompatible(format!(
                    "the card has no contactless directory (PPSE answered {}: {})",
                    r.sw,
                    r.sw.meaning()
                ))),
            );
        }
        match entry::candidates_from_ppse(&r.data, &self.config, &self.inputs) {
            Ok(c) if !c.is_empty() => {
                self.candidates = c;
                self.select_next_candidate()
            }
            Ok(_) => self.finish(
                OutcomeKind::EndApplication,
                Some(Reason::CardIncompatible(
                    "no application on the card matches the terminal's AIDs and kernels".into(),
                )),
            ),
            Err(reason) => self.finish(OutcomeKind::EndApplication, Some(reason)),
        }
    }

    /// Final selection of the best remaining candidate (Book B §3.3.3).
    fn select_next_candidate(&mut self) -> Step {
        if self.candidates.is_empty() {
            return self.finish(
                OutcomeKind::EndApplication,
                Some(Reason::CardIncompatible(
                    "no application could be selected".into(),
                )),
            );
        }
        let c = self.candidates.remove(0);
        let cmd = CommandApdu::select(&c.adf_name);
        self.label = c.label.clone();
        self.current = Some(c);
        self.state = State::FinalSelect;
        self.card = CardData::default();
        self.send(cmd)
    }

    fn on_final_select(&mut self, r: ResponseApdu) -> Result<Step, KernelError> {
        if !r.sw.is_ok() {
            return Ok(self.select_next_or_end(format!(
                "SELECT of the application answered {}: {}",
                r.sw,
                r.sw.meaning()
            )));
        }
        let entry::AdfFci {
            pdol,
            label,
            df_name,
        } = match entry::parse_adf_fci(&r.data) {
            Ok(v) => v,
            Err(reason) => return Ok(self.select_next_or_end(reason.text().to_string())),
        };
        if label.is_some() {
            self.label = label;
        }
        if let Err(reason) = self.card.absorb(&r.data, "application FCI") {
            return Ok(self.finish(OutcomeKind::EndApplication, Some(reason)));
        }
        self.card.set(t::DF_NAME, df_name);
        let entries = match pdol.as_deref().map(dol::parse) {
            Some(Ok(e)) => e,
            Some(Err(e)) => {
                return Ok(self.finish(
                    OutcomeKind::EndApplication,
                    Some(Reason::CardSentGarbage(format!("PDOL: {e}"))),
                ))
            }
            None => Vec::new(),
        };
        if self.is_kernel3() && pdol.is_none() {
            return Ok(self.finish(
                OutcomeKind::EndApplication,
                Some(Reason::CardBrokeRule(
                    "a qVSDC card must send a PDOL".into(),
                )),
            ));
        }
        let data = self.build_dol(&entries)?;
        self.pdol_data = data.clone();
        self.state = State::Gpo;
        Ok(self.send(CommandApdu::gpo(&data)))
    }

    fn select_next_or_end(&mut self, why: String) -> Step {
        if self.candidates.is_empty() && self.inputs.start == Start::FinalSelection {
            // Without Entry Point's candidate list the kernel's own outcome
            // stands: Select Next, for the caller's Entry Point to act on.
            self.finish(OutcomeKind::SelectNext, Some(Reason::CardIncompatible(why)))
        } else if self.candidates.is_empty() {
            self.finish(
                OutcomeKind::EndApplication,
                Some(Reason::CardBrokeRule(why)),
            )
        } else {
            self.select_next_candidate()
        }
    }

    fn is_kernel3(&self) -> bool {
        matches!(self.current.as_ref().map(|c| c.kernel), Some(3 | 7))
    }

    // ----- Processing options and records ------------------------------

    fn on_gpo(&mut self, r: ResponseApdu) -> Result<Step, KernelError> {
        if !r.sw.is_ok() && !self.is_kernel3() {
            // Book C-2 S3.9: any other status word → Select Next.
            return Ok(self.select_next_or_end(format!(
                "GET PROCESSING OPTIONS answered {}: {}",
                r.sw,
                r.sw.meaning()
            )));
        }
        match r.sw.0 {
            0x9000 => {}
            // Book C-3: conditions not satisfied → Select Next;
            // 6984 → another interface; 6986 → see phone, try again.
            0x6985 => {
                return Ok(self
                    .select_next_or_end("the card refused GET PROCESSING OPTIONS (6985)".into()))
            }
            0x6984 => {
                return Ok(self.finish(
                    OutcomeKind::TryAnotherInterface,
                    Some(Reason::CardIncompatible(
                        "the card asks for another interface (6984)".into(),
                    )),
                ))
            }
            0x6986 if self.is_kernel3() => {
                let step = self.finish(
                    OutcomeKind::TryAgain,
                    Some(Reason::Decision(
                        "the phone asks the cardholder to act (6986)".into(),
                    )),
                );
                return Ok(with_ui(step, Message::SeePhoneForInstructions));
            }
            _ => {
                return Ok(self.finish(
                    OutcomeKind::EndApplication,
                    Some(Reason::CardBrokeRule(format!(
                        "GET PROCESSING OPTIONS answered {}: {}",
                        r.sw,
                        r.sw.meaning()
                    ))),
                ))
            }
        }
        if let Err(reason) = self.absorb_gpo(&r.data) {
            return Ok(self.finish(OutcomeKind::EndApplication, Some(reason)));
        }
        if !self.card.has(t::AIP) {
            return Ok(self.finish(
                OutcomeKind::EndApplication,
                Some(Reason::CardBrokeRule(
                    "AIP (82) missing from the GPO answer".into(),
                )),
            ));
        }
        let afl = match self.card.get(t::AFL).map(parse_afl) {
            Some(Ok(afl)) => afl,
            Some(Err(reason)) => return Ok(self.finish(OutcomeKind::EndApplication, Some(reason))),
            None if self.is_kernel3() => Vec::new(),
            None => {
                return Ok(self.finish(
                    OutcomeKind::EndApplication,
                    Some(Reason::CardBrokeRule(
                        "AFL (94) missing from the GPO answer".into(),
                    )),
                ))
            }
        };
        match afl.first().copied() {
            Some(first) => {
                self.state = State::ReadRecords {
                    afl,
                    entry: 0,
                    record: first.first,
                };
                Ok(self.send(CommandApdu::read_record(first.sfi, first.first)))
            }
            None => Ok(self.after_records()),
        }
    }

    fn absorb_gpo(&mut self, data: &[u8]) -> Result<(), Reason> {
        let (top, rest) = tlv::parse_one(data)
            .map_err(|e| Reason::CardSentGarbage(format!("GPO answer: {e}")))?;
        if !rest.iter().all(|b| *b == 0x00) {
            return Err(Reason::CardSentGarbage(
                "bytes after the GPO template".into(),
            ));
        }
        if top.tag == t::RMT2 {
            return self.card.absorb(data, "GPO answer");
        }
        if top.tag == t::RMT1 {
            // Format 1: AIP (2 bytes) then AFL.
            let (aip, afl) = top.value.split_at_checked(2).ok_or_else(|| {
                Reason::CardSentGarbage("GPO format 1 answer shorter than its AIP".into())
            })?;
            self.card.set(t::AIP, aip.to_vec());
            if !afl.is_empty() {
                self.card.set(t::AFL, afl.to_vec());
            }
            return Ok(());
        }
        Err(Reason::CardSentGarbage(format!(
            "GPO answer template {} is not 77 or 80",
            top.tag
        )))
    }

    fn on_record(
        &mut self,
        r: ResponseApdu,
        afl: Vec<AflEntry>,
        entry: usize,
        record: u8,
    ) -> Result<Step, KernelError> {
        let Some(current) = afl.get(entry).copied() else {
            return Ok(self.after_records());
        };
        if !r.sw.is_ok() {
            return Ok(self.finish(
                OutcomeKind::EndApplication,
                Some(Reason::CardBrokeRule(format!(
                    "READ RECORD {} of SFI {} answered {}: {}",
                    record,
                    current.sfi,
                    r.sw,
                    r.sw.meaning()
                ))),
            ));
        }
        let (template, rest) = match tlv::parse_one(&r.data) {
            Ok(v) => v,
            Err(e) => {
                return Ok(self.finish(
                    OutcomeKind::EndApplication,
                    Some(Reason::CardSentGarbage(format!(
                        "record {record} of SFI {}: {e}",
                        current.sfi
                    ))),
                ))
            }
        };
        let is_oda_record = record < current.first.saturating_add(current.oda);
        if template.tag != t::RECORD || !rest.is_empty() {
            if current.sfi <= 10 {
                return Ok(self.finish(
                    OutcomeKind::EndApplication,
                    Some(Reason::CardSentGarbage(format!(
                        "record {record} of SFI {} is not a single 70 template",
                        current.sfi
                    ))),
                ));
            }
            if is_oda_record {
                self.oda_static_invalid = true;
            }
        }
        if is_oda_record {
            // Book 3 §10.3: SFI 1–10 hash the template's value only;
            // SFI 11–30 hash the whole record.
            if current.sfi <= 10 {
                self.oda_static.extend_from_slice(template.value);
            } else {
                self.oda_static.extend_from_slice(&r.data);
            }
        }
        if template.tag == t::RECORD {
            if let Err(reason) = self.card.absorb(template.value, "record") {
                return Ok(self.finish(OutcomeKind::EndApplication, Some(reason)));
            }
        }
        // Next record, or next AFL entry.
        let (next_entry, next_record) = if record < current.last {
            (entry, record.saturating_add(1))
        } else {
            let n = entry.saturating_add(1);
            (n, afl.get(n).map_or(0, |e| e.first))
        };
        match afl.get(next_entry).copied() {
            Some(e) => {
                self.state = State::ReadRecords {
                    afl,
                    entry: next_entry,
                    record: next_record,
                };
                Ok(self.send(CommandApdu::read_record(e.sfi, next_record)))
            }
            None => Ok(self.after_records()),
        }
    }

    fn after_records(&mut self) -> Step {
        if self.is_kernel3() {
            self.kernel3_complete()
        } else {
            match self.kernel2_decide() {
                Ok(step) => step,
                Err(e) => self.finish(
                    OutcomeKind::EndApplication,
                    Some(Reason::Configuration(e.to_string())),
                ),
            }
        }
    }

    // ----- Kernel 3 (qVSDC) ----------------------------------------------

    fn kernel3_complete(&mut self) -> Step {
        let cid = match self.card.get(t::CID).and_then(|c| c.first().copied()) {
            Some(c) => c & 0xC0,
            // Book C-3: without a CID, IAD byte 5 bits 6–5 give the type.
            None => match self.card.get(t::IAD).and_then(|i| i.get(4).copied()) {
                Some(b) => match (b >> 4) & 0x03 {
                    0 => AAC,
                    1 => TC,
                    _ => ARQC,
                },
                None => {
                    return self.finish(
                        OutcomeKind::EndApplication,
                        Some(Reason::CardBrokeRule(
                            "neither CID (9F27) nor IAD (9F10) tells the cryptogram type".into(),
                        )),
                    )
                }
            },
        };
        for (tag, what) in [
            (t::AC, "Application Cryptogram (9F26)"),
            (t::ATC, "ATC (9F36)"),
        ] {
            if !self.card.has(tag) {
                return self.finish(
                    OutcomeKind::EndApplication,
                    Some(Reason::CardBrokeRule(format!("{what} missing"))),
                );
            }
        }
        if !self.card.has(t::TRACK2) && !self.card.has(t::PAN) {
            return self.finish(
                OutcomeKind::EndApplication,
                Some(Reason::CardBrokeRule(
                    "neither Track 2 (57) nor PAN (5A) present".into(),
                )),
            );
        }
        if let (Some(pan), Some(track2)) = (self.card.get(t::PAN), self.card.get(t::TRACK2)) {
            // Book C-3 Annex A: the PAN and the track 2 PAN must agree.
            let t2 = hex::encode_upper(track2);
            let t2_pan: String = t2.chars().take_while(|c| *c != 'D').collect();
            let pan_digits: String = hex::encode_upper(pan)
                .chars()
                .take_while(|c| *c != 'F')
                .collect();
            if t2_pan != pan_digits {
                return self.finish(
                    OutcomeKind::EndApplication,
                    Some(Reason::CardBrokeRule(
                        "the PAN (5A) differs from the one in Track 2 (57)".into(),
                    )),
                );
            }
        }
        let ttq = self
            .current
            .as_ref()
            .and_then(|c| c.indicators.ttq)
            .unwrap_or([0; 4]);
        let cvm_required = ttq[1] & 0x40 != 0;
        let online_required = ttq[1] & 0x80 != 0;
        let ctq = self
            .card
            .get(t::CTQ)
            .and_then(|c| <[u8; 2]>::try_from(c).ok());
        let ctq_byte1 = ctq.map_or(0, |c| c[0]);
        let online_capable = ttq[0] & 0x08 == 0;
        let contact_capable = ttq[0] & 0x10 != 0;

        // The path the card chose, then ODA, which may change it (§5.4–5.6).
        let mut kind = match cid {
            AAC => {
                return self.finish(
                    OutcomeKind::Declined,
                    Some(Reason::Decision("the card declined offline (AAC)".into())),
                )
            }
            ARQC => OutcomeKind::OnlineRequest,
            TC => OutcomeKind::Approved,
            _ => {
                return self.finish(
                    OutcomeKind::EndApplication,
                    Some(Reason::CardBrokeRule(format!(
                        "cryptogram type {cid:02X} is reserved"
                    ))),
                )
            }
        };
        let mut reason = None;
        if kind == OutcomeKind::OnlineRequest {
            // TTQ byte 1 b1: the reader does ODA for online authorisations;
            // the issuer sees the result in the TVR.
            if ttq[0] & 0x01 != 0 && self.aip()[0] & 0x20 != 0 && self.card.has(t::SDAD) {
                let passed = self.verify_fdda().is_ok();
                self.tvr.oda = Some((OdaMethod::Fdda, passed));
                if !passed {
                    self.tvr.set(tvr::DDA_FAILED);
                }
            }
        } else if online_required && online_capable {
            // §5.4.3: the reader asked for an online cryptogram; an offline
            // approval cannot stand.
            kind = OutcomeKind::OnlineRequest;
            reason = Some(Reason::Decision(
                "the reader required an online cryptogram and the card approved offline".into(),
            ));
        } else if self.application_expired() || !self.card.has(t::EXPIRY) {
            // §5.5.1: CTQ byte 1 b4 lets an expired card go online.
            let why = "the application has expired (or sent no expiry date)".to_string();
            if ctq_byte1 & 0x08 != 0 && online_capable {
                kind = OutcomeKind::OnlineRequest;
                reason = Some(Reason::Decision(why));
            } else {
                return self.finish(OutcomeKind::Declined, Some(Reason::Decision(why)));
            }
        } else {
            let result = if self.aip()[0] & 0x20 == 0 {
                Err("the card approved offline but does not support fDDA".to_string())
            } else {
                self.verify_fdda()
            };
            match result {
                Ok(()) => self.tvr.oda = Some((OdaMethod::Fdda, true)),
                Err(why) => {
                    self.tvr.oda = Some((OdaMethod::Fdda, false));
                    self.tvr.set(tvr::DDA_FAILED);
                    // §5.6.2: the CTQ says what to do when ODA fails.
                    let r = Reason::Decision(format!("fDDA failed: {why}"));
                    if ctq_byte1 & 0x20 != 0 && online_capable {
                        kind = OutcomeKind::OnlineRequest;
                        reason = Some(r);
                    } else if ctq_byte1 & 0x10 != 0 && contact_capable {
                        return self.finish(OutcomeKind::TryAnotherInterface, Some(r));
                    } else {
                        return self.finish(OutcomeKind::Declined, Some(r));
                    }
                }
            }
        }

        // CVM after ODA (§5.7), on the path now taken.
        let online = kind == OutcomeKind::OnlineRequest;
        let card_auth = self.card.get(t::CARD_AUTH_DATA).map(<[u8]>::to_vec);
        match cvm::kernel3(cvm_required, ttq, ctq, online, card_auth.as_deref()) {
            CvmDecision::Selected(cvm) => self.cvm = cvm,
            CvmDecision::Failed(why) => {
                self.cvm = Cvm::None;
                return self.finish(OutcomeKind::Declined, Some(Reason::Decision(why)));
            }
        }
        if self.cvm == Cvm::OnlinePin && kind == OutcomeKind::Approved {
            // The card wants online PIN: the PIN can only be checked online.
            if !online_capable {
                return self.finish(
                    OutcomeKind::Declined,
                    Some(Reason::Decision(
                        "online PIN required on an offline-only reader".into(),
                    )),
                );
            }
            kind = OutcomeKind::OnlineRequest;
        }
        self.finish(kind, reason)
    }

    fn verify_fdda(&self) -> Result<(), String> {
        let sdad = self.card.get(t::SDAD).ok_or("SDAD (9F4B) missing")?;
        let input = self.oda_input()?;
        let key = odaflow::recover_icc_key(&self.config.ca_keys, &self.config.revocations, &input)?;
        let un = self.un().map_err(|e| e.to_string())?;
        let dynamic = crate::oda::fdda_terminal_data(
            un,
            self.inputs.amount.to_bcd(),
            self.inputs.amount.currency.to_bcd(),
            self.card.get(t::CARD_AUTH_DATA),
        );
        odaflow::verify_dynamic(&key, sdad, &dynamic)
    }

    // ----- Kernel 2 (M/Chip) -------------------------------------------

    fn kernel2_decide(&mut self) -> Result<Step, KernelError> {
        for (tag, what) in [
            (t::PAN, "PAN (5A)"),
            (t::EXPIRY, "Application Expiration Date (5F24)"),
            (t::CDOL1, "CDOL1 (8C)"),
        ] {
            if !self.card.has(tag) {
                return Ok(self.finish(
                    OutcomeKind::EndApplication,
                    Some(Reason::CardBrokeRule(format!(
                        "{what} missing from the records"
                    ))),
                ));
            }
        }
        if Pan::from_cn(self.card.get(t::PAN).unwrap_or(&[])).is_err() {
            return Ok(self.finish(
                OutcomeKind::EndApplication,
                Some(Reason::CardSentGarbage(
                    "the PAN (5A) is not a valid card number".into(),
                )),
            ));
        }
        let aip = self.aip();
        let amount = self.inputs.amount.minor;
        let on_device_cvm = aip[0] & 0x02 != 0 && self.kernel_config() & 0x20 != 0;
        // C-2 S3.30: the contactless transaction limit depends on whether
        // the phone verifies the cardholder (DF8125) or not (DF8124).
        let limit_tag = if on_device_cvm { 0xDF8125 } else { 0xDF8124 };
        if let Some(limit) = self.tag_amount(limit_tag) {
            if amount > limit {
                return Ok(self.select_next_or_end(format!(
                    "the amount is over the contactless transaction limit ({limit})"
                )));
            }
        }
        // Processing restrictions (Book 3 §10.4, C-2 §7.7).
        if self.application_expired() {
            self.tvr.set(tvr::EXPIRED_APPLICATION);
        }
        if self.application_not_yet_effective() {
            self.tvr.set(tvr::NOT_YET_EFFECTIVE);
        }
        if let (Some(card), Some(terminal)) = (
            self.card.get(Tag::from_u32_unchecked(0x9F08)),
            self.config.tags.get(&t::APP_VERSION_TERMINAL),
        ) {
            if card != terminal.as_slice() {
                self.tvr.set(tvr::VERSION_MISMATCH);
            }
        }
        if !self.usage_allowed() {
            self.tvr.set(tvr::SERVICE_NOT_ALLOWED);
        }
        // C-2 456.25–27: CDA needs the SDA tag list, and it may name only
        // the AIP.
        match self.card.get(t::SDA_TAG_LIST) {
            Some(list) if list != [0x82] => {
                return Ok(self.finish(
                    OutcomeKind::EndApplication,
                    Some(Reason::CardBrokeRule(
                        "the SDA tag list (9F4A) names something other than the AIP".into(),
                    )),
                ))
            }
            _ => {}
        }
        // ODA: CDA when both sides support it.
        let terminal_cda = self
            .config
            .tags
            .get(&t::TERMINAL_CAPS)
            .and_then(|c| c.get(2))
            .is_none_or(|b| b & 0x08 != 0);
        let mut cda = false;
        if aip[0] & 0x01 != 0 && terminal_cda {
            if !self.card.has(t::SDA_TAG_LIST) {
                self.tvr.set(tvr::ICC_DATA_MISSING);
                self.tvr.set(tvr::CDA_FAILED);
                self.tvr.oda_note = Some("the SDA tag list (9F4A) is missing".into());
            } else if self.oda_static_invalid {
                self.tvr.set(tvr::CDA_FAILED);
            } else if let Err(why) = self.oda_input() {
                self.tvr.set(tvr::ICC_DATA_MISSING);
                self.tvr.set(tvr::CDA_FAILED);
                self.tvr.oda_note = Some(why);
            } else if !odaflow::ca_key_known(&self.config.ca_keys, &self.card) {
                self.tvr.set(tvr::CDA_FAILED);
                self.tvr.oda_note = Some("the CA public key is not known to the terminal".into());
            } else {
                cda = true;
            }
            if !cda {
                self.tvr.oda = Some((OdaMethod::Cda, false));
            }
        } else {
            self.tvr.set(tvr::ODA_NOT_PERFORMED);
        }
        // CVM (Book 3 §10.5, Book C-2 §7.5).
        let aid = self
            .current
            .as_ref()
            .and_then(|c| self.config.aids.get(c.aid_index))
            .cloned();
        // C-2 456.30: Kernel 2 compares with ">" (Entry Point uses "≥").
        let cvm_limit = self
            .tag_amount(0xDF8126)
            .or_else(|| aid.as_ref().and_then(|a| a.cvm_limit));
        let cvm_limit_exceeded = cvm_limit.is_some_and(|l| amount > l);
        let capability = self.cvm_capability(cvm_limit_exceeded);
        // C-2 456.32: Terminal Capabilities byte 2 becomes the CVM
        // capability that applies to this amount.
        let mut caps = self
            .config
            .tags
            .get(&t::TERMINAL_CAPS)
            .and_then(|c| <[u8; 3]>::try_from(c.as_slice()).ok())
            .unwrap_or([0xE0, 0x08, 0xC8]);
        caps[1] = capability;
        self.terminal_caps = Some(caps);
        let app_currency_matches = self.card.get(Tag::from_u32_unchecked(0x9F42))
            == Some(&self.inputs.amount.currency.to_bcd()[..]);
        let sel = cvm::kernel2(cvm::Kernel2Cvm {
            aip,
            cvm_list: self.card.get(t::CVM_LIST),
            amount,
            amount_other: self.inputs.amount_other,
            tx_type: self.inputs.tx_type,
            capability,
            cvm_limit_exceeded,
            on_device_cvm_supported: self.kernel_config() & 0x20 != 0,
            app_currency_matches,
            terminal_type: self
                .config
                .tags
                .get(&t::TERMINAL_TYPE)
                .and_then(|v| v.first().copied())
                .unwrap_or(0x22),
        });
        self.cvm = sel.cvm;
        self.cvm_results = sel.results;
        if sel.failed {
            self.tvr.set(tvr::CVM_FAILED);
        }
        if sel.unrecognised {
            self.tvr.set(tvr::UNRECOGNISED_CVM);
        }
        if sel.icc_data_missing {
            self.tvr.set(tvr::ICC_DATA_MISSING);
        }
        if sel.online_pin {
            self.tvr.set(tvr::ONLINE_PIN_ENTERED);
        }
        // Terminal risk management: floor limit.
        if aid
            .as_ref()
            .and_then(|a| a.floor_limit)
            .is_some_and(|l| amount > l)
        {
            self.tvr.set(tvr::FLOOR_LIMIT_EXCEEDED);
        }
        // Terminal action analysis (Book 3 §10.7).
        let online_capable = self.online_capable();
        let requested = tvr::action_analysis(
            &self.tvr.bytes(),
            aid.as_ref(),
            &self.config.tags,
            TacIac {
                denial: self.card.get(t::IAC_DENIAL),
                online: self.card.get(t::IAC_ONLINE),
                default: self.card.get(t::IAC_DEFAULT),
            },
            online_capable,
            self.online_only(),
        );
        let p1 = if cda && requested != AAC {
            requested | CDA_REQUEST
        } else {
            requested
        };
        let entries = match dol::parse(self.card.get(t::CDOL1).unwrap_or(&[])) {
            Ok(e) => e,
            Err(e) => {
                return Ok(self.finish(
                    OutcomeKind::EndApplication,
                    Some(Reason::CardSentGarbage(format!("CDOL1: {e}"))),
                ))
            }
        };
        let data = self.build_dol(&entries)?;
        self.cdol1_data = data.clone();
        self.state = State::GenerateAc {
            requested,
            cda: p1 & CDA_REQUEST != 0,
        };
        Ok(self.send(CommandApdu::generate_ac(p1, &data)))
    }

    fn on_generate_ac(&mut self, r: ResponseApdu, requested: u8, cda: bool) -> Step {
        if !r.sw.is_ok() {
            return self.finish(
                OutcomeKind::EndApplication,
                Some(Reason::CardBrokeRule(format!(
                    "GENERATE AC answered {}: {}",
                    r.sw,
                    r.sw.meaning()
                ))),
            );
        }
        let (top, rest) = match tlv::parse_one(&r.data) {
            Ok(v) => v,
            Err(e) => {
                return self.finish(
                    OutcomeKind::EndApplication,
                    Some(Reason::CardSentGarbage(format!("GENERATE AC answer: {e}"))),
                )
            }
        };
        if !rest.is_empty() {
            return self.finish(
                OutcomeKind::EndApplication,
                Some(Reason::CardSentGarbage(
                    "bytes after the GENERATE AC template".into(),
                )),
            );
        }
        // Response TLVs other than the SDAD, in order: the CDA hash input.
        let mut response_tlvs = Vec::new();
        let mut fields: BTreeMap<Tag, Vec<u8>> = BTreeMap::new();
        if top.tag == t::RMT2 {
            if tlv::parse_all(top.value).is_err() {
                return self.finish(
                    OutcomeKind::EndApplication,
                    Some(Reason::CardSentGarbage(
                        "GENERATE AC template is malformed".into(),
                    )),
                );
            }
            for item in tlv::TlvIter::new(top.value).flatten() {
                if fields.insert(item.tag, item.value.to_vec()).is_some() {
                    return self.finish(
                        OutcomeKind::EndApplication,
                        Some(Reason::CardBrokeRule(format!(
                            "GENERATE AC answer has {} twice",
                            item.tag
                        ))),
                    );
                }
                if item.tag != t::SDAD {
                    response_tlvs.extend_from_slice(item.raw);
                }
            }
        } else if top.tag == t::RMT1 {
            // Format 1: CID (1) ATC (2) AC (8) IAD (rest).
            let v = top.value;
            match (v.first(), v.get(1..3), v.get(3..11), v.get(11..)) {
                (Some(cid), Some(atc), Some(ac), Some(iad)) => {
                    fields.insert(t::CID, vec![*cid]);
                    fields.insert(t::ATC, atc.to_vec());
                    fields.insert(t::AC, ac.to_vec());
                    if !iad.is_empty() {
                        fields.insert(t::IAD, iad.to_vec());
                    }
                }
                _ => {
                    return self.finish(
                        OutcomeKind::EndApplication,
                        Some(Reason::CardSentGarbage(
                            "GENERATE AC format 1 too short".into(),
                        )),
                    )
                }
            }
        } else {
            return self.finish(
                OutcomeKind::EndApplication,
                Some(Reason::CardSentGarbage(format!(
                    "GENERATE AC template {} is not 77 or 80",
                    top.tag
                ))),
            );
        }
        let Some(cid) = fields.get(&t::CID).and_then(|c| c.first().copied()) else {
            return self.finish(
                OutcomeKind::EndApplication,
                Some(Reason::CardBrokeRule(
                    "CID (9F27) missing from GENERATE AC".into(),
                )),
            );
        };
        let returned = cid & 0xC0;
        let rank = |t: u8| match t {
            AAC => 0u8,
            ARQC => 1,
            _ => 2,
        };
        if returned == 0xC0 || rank(returned) > rank(requested) {
            return self.finish(
                OutcomeKind::EndApplication,
                Some(Reason::CardBrokeRule(format!(
                    "the card returned cryptogram {returned:02X}, more than the {requested:02X} asked for"
                ))),
            );
        }
        if !fields.contains_key(&t::ATC) {
            return self.finish(
                OutcomeKind::EndApplication,
                Some(Reason::CardBrokeRule(
                    "ATC (9F36) missing from GENERATE AC".into(),
                )),
            );
        }
        for (tag, value) in &fields {
            if *tag != t::SDAD {
                self.card.set(*tag, value.clone());
            }
        }
        let mut oda_failure = None;
        if cda && returned != AAC {
            match self.verify_cda(&fields, &response_tlvs, cid) {
                Ok(ac) => {
                    self.card.set(t::AC, ac.to_vec());
                    self.tvr.oda = Some((OdaMethod::Cda, true));
                }
                Err(why) => {
                    self.tvr.set(tvr::CDA_FAILED);
                    self.tvr.oda = Some((OdaMethod::Cda, false));
                    oda_failure = Some(why);
                }
            }
        } else if !self.card.has(t::AC) {
            return self.finish(
                OutcomeKind::EndApplication,
                Some(Reason::CardBrokeRule(
                    "Application Cryptogram (9F26) missing".into(),
                )),
            );
        }
        if let Some(why) = oda_failure {
            // C-2 S910.7: a failed CDA ends the application ("try another
            // card"), it is not the issuer's decline.
            return self.finish(
                OutcomeKind::EndApplication,
                Some(Reason::Decision(format!("CDA failed: {why}"))),
            );
        }
        // C-2 S910.71: a phone that declined because the cardholder must act
        // on it (POS Cardholder Interaction Information, DF4B) asks for a
        // second tap, not a decline.
        let pcii = fields
            .get(&Tag::from_u32_unchecked(0xDF4B))
            .cloned()
            .unwrap_or_default();
        let see_phone = pcii.get(1).is_some_and(|b| b & 0x03 != 0)
            || pcii.get(2).is_some_and(|b| b & 0x0F != 0);
        if returned == AAC && see_phone {
            let step = self.finish(
                OutcomeKind::EndApplication,
                Some(Reason::Decision(
                    "the phone asks the cardholder to act, then tap again".into(),
                )),
            );
            return match step {
                Step::Done(mut o) => {
                    o.ui = UiRequest {
                        message: Message::SeePhoneForInstructions,
                        status: Status::NotReady,
                        hold_ms: 1500,
                    };
                    o.ui_on_restart = Some(default_ui(OutcomeKind::TryAgain));
                    // A second tap once the cardholder has acted on the phone.
                    o.parameters.start = Some(crate::outcome::RestartPoint::B);
                    o.parameters.field_off_ms = Some(1500);
                    Step::Done(o)
                }
                other => other,
            };
        }
        match returned {
            AAC => self.finish(
                OutcomeKind::Declined,
                Some(Reason::Decision(if requested == AAC {
                    format!(
                        "terminal action analysis declined (TVR {})",
                        hex::encode_upper(self.tvr.bytes())
                    )
                } else {
                    "the card declined (AAC)".into()
                })),
            ),
            ARQC => self.finish(OutcomeKind::OnlineRequest, None),
            _ => self.finish(OutcomeKind::Approved, None),
        }
    }

    fn verify_cda(
        &self,
        fields: &BTreeMap<Tag, Vec<u8>>,
        response_tlvs: &[u8],
        cid: u8,
    ) -> Result<[u8; 8], String> {
        let sdad = fields
            .get(&t::SDAD)
            .ok_or("the card sent no SDAD (9F4B) for CDA")?;
        let input = self.oda_input()?;
        let key = odaflow::recover_icc_key(&self.config.ca_keys, &self.config.revocations, &input)?;
        let un = self.un().map_err(|e| e.to_string())?;
        odaflow::verify_cda(
            &key,
            sdad,
            un,
            &self.pdol_data,
            &self.cdol1_data,
            response_tlvs,
            cid,
        )
    }

    // ----- Shared helpers ------------------------------------------------

    fn oda_input(&self) -> Result<odaflow::Input, String> {
        let rid = self
            .current
            .as_ref()
            .and_then(|c| c.adf_name.get(..5))
            .ok_or("no application selected")?;
        let mut static_data = self.oda_static.clone();
        if let Some(list) = self.card.get(t::SDA_TAG_LIST) {
            // Book 3 §10.3: the list may name only the AIP.
            if list != [0x82] {
                return Err("the SDA tag list (9F4A) names something other than the AIP".into());
            }
            static_data.extend_from_slice(&self.aip());
        }
        odaflow::Input::collect(rid, &self.card, static_data, self.inputs.date)
    }

    /// An n12 amount from the terminal's configuration tags.
    fn tag_amount(&self, tag: u32) -> Option<u64> {
        self.config
            .tags
            .get(&Tag::from_u32_unchecked(tag))
            .and_then(|v| crate::bcd::decode_u64(v))
    }

    /// Application Usage Control against this transaction (Book 3
    /// §10.4.2): domestic or international, goods or services, and not at
    /// an ATM.
    fn usage_allowed(&self) -> bool {
        let Some(auc) = self.card.get(t::AUC) else {
            return true;
        };
        let (Some(&b1), Some(&b2)) = (auc.first(), auc.get(1)) else {
            return false;
        };
        // Byte 1 b1: valid at terminals other than ATMs.
        if b1 & 0x01 == 0 {
            return false;
        }
        let domestic = match (
            self.card.get(t::ISSUER_COUNTRY),
            self.config.tags.get(&t::COUNTRY),
        ) {
            (Some(card), Some(terminal)) => card == terminal.as_slice(),
            _ => return true,
        };
        match self.inputs.tx_type {
            // Purchase: goods or services.
            0x00 if domestic => b1 & 0x28 != 0,
            0x00 => b1 & 0x14 != 0,
            // Cash: domestic/international cash; cashback in byte 2.
            0x01 | 0x17 if domestic => b1 & 0x80 != 0,
            0x01 | 0x17 => b1 & 0x40 != 0,
            0x09 if domestic => b2 & 0x80 != 0,
            0x09 => b2 & 0x40 != 0,
            _ => true,
        }
    }

    /// Terminal type x1 or x4: online only (Book 4 Annex A1).
    fn online_only(&self) -> bool {
        let tt = self
            .config
            .tags
            .get(&t::TERMINAL_TYPE)
            .and_then(|v| v.first().copied())
            .unwrap_or(0x22);
        matches!(tt & 0x0F, 1 | 4)
    }

    fn aip(&self) -> [u8; 2] {
        self.card
            .get(t::AIP)
            .and_then(|a| <[u8; 2]>::try_from(a).ok())
            .unwrap_or([0; 2])
    }

    fn kernel_config(&self) -> u8 {
        self.config
            .tags
            .get(&Tag::from_u32_unchecked(0xDF811B))
            .and_then(|v| v.first().copied())
            .unwrap_or(0x20)
    }

    fn cvm_capability(&self, cvm_required: bool) -> u8 {
        let tag = Tag::from_u32_unchecked(if cvm_required { 0xDF8118 } else { 0xDF8119 });
        self.config
            .tags
            .get(&tag)
            .and_then(|v| v.first().copied())
            .unwrap_or_else(|| {
                // Fall back on Terminal Capabilities byte 2.
                self.config
                    .tags
                    .get(&t::TERMINAL_CAPS)
                    .and_then(|c| c.get(1).copied())
                    .unwrap_or(0x08)
            })
    }

    fn online_capable(&self) -> bool {
        // Terminal type 1x/2x = online capable (x1, x4) or with offline
        // capability (x2, x5); x3, x6 = offline only.
        let tt = self
            .config
            .tags
            .get(&t::TERMINAL_TYPE)
            .and_then(|v| v.first().copied())
            .unwrap_or(0x22);
        !matches!(tt & 0x0F, 3 | 6)
    }

    fn application_expired(&self) -> bool {
        self.card
            .get(t::EXPIRY)
            .is_some_and(|e| date_key(e) < date_key(&self.inputs.date))
    }

    fn application_not_yet_effective(&self) -> bool {
        self.card
            .get(t::EFFECTIVE)
            .is_some_and(|e| date_key(e) > date_key(&self.inputs.date))
    }

    fn un(&self) -> Result<[u8; 4], KernelError> {
        self.inputs
            .unpredictable_numbers
            .first()
            .copied()
            .ok_or(KernelError::OutOfUnpredictableNumbers(1))
    }

    /// The terminal's value for each tag a DOL may ask for.
    fn build_dol(&self, entries: &[dol::DolEntry]) -> Result<Vec<u8>, KernelError> {
        let mut values: BTreeMap<Tag, Vec<u8>> = BTreeMap::new();
        if entries.iter().any(|e| e.tag == t::UN) {
            values.insert(t::UN, self.un()?.to_vec());
        }
        let mut other = [0u8; 6];
        crate::bcd::encode_u64(self.inputs.amount_other, &mut other);
        values.insert(t::AMOUNT, self.inputs.amount.to_bcd().to_vec());
        values.insert(t::AMOUNT_OTHER, other.to_vec());
        values.insert(t::CURRENCY, self.inputs.amount.currency.to_bcd().to_vec());
        values.insert(t::DATE, self.inputs.date.to_vec());
        values.insert(t::TIME, self.inputs.time.to_vec());
        values.insert(t::TX_TYPE, vec![self.inputs.tx_type]);
        values.insert(t::TVR, self.tvr.bytes().to_vec());
        values.insert(t::CVM_RESULTS, self.cvm_results.to_vec());
        if let Some(caps) = self.terminal_caps {
            values.insert(t::TERMINAL_CAPS, caps.to_vec());
        }
        if let Some(ttq) = self.current.as_ref().and_then(|c| c.indicators.ttq) {
            values.insert(t::TTQ, ttq.to_vec());
        }
        let out = dol::build(entries, |tag| {
            values
                .get(&tag)
                .or_else(|| self.config.tags.get(&tag))
                .map(Vec::as_slice)
                .or_else(|| self.card.get(tag))
        });
        Ok(out)
    }

    /// Ends the transaction with an outcome carrying everything known.
    fn finish(&mut self, kind: OutcomeKind, reason: Option<Reason>) -> Step {
        self.state = State::Done;
        let mut o = Outcome::new(kind, reason);
        o.cvm = match kind {
            OutcomeKind::Approved | OutcomeKind::OnlineRequest | OutcomeKind::Declined => self.cvm,
            _ => Cvm::None,
        };
        if let Some((method, passed)) = self.tvr.oda {
            o.oda_method = Some(method);
            o.oda = if passed {
                OdaStatus::Passed
            } else {
                OdaStatus::Failed
            };
        }
        if let (Some(note), None) = (&self.tvr.oda_note, &o.reason) {
            o.reason = Some(Reason::Decision(note.clone()));
        }
        o.kernel = self.current.as_ref().map(|c| c.kernel);
        o.aid = self.card.get(t::DF_NAME).map(<[u8]>::to_vec);
        o.application_label = self.label.clone();
        o.tvr = self.tvr.bytes();
        o.masked_pan = self.masked_pan();
        if kind == OutcomeKind::Approved && self.cvm == Cvm::Signature {
            o.ui.message = Message::ApprovedPleaseSign;
        }
        if kind == OutcomeKind::OnlineRequest && self.cvm == Cvm::OnlinePin {
            o.ui.message = Message::PleaseEnterPin;
        }
        if kind == OutcomeKind::TryAgain {
            o.ui = UiRequest {
                message: Message::PresentCardAgain,
                status: Status::ReadyToRead,
                hold_ms: 0,
            };
            o.ui_on_restart = Some(default_ui(OutcomeKind::TryAgain));
        }
        if matches!(
            kind,
            OutcomeKind::Approved | OutcomeKind::Declined | OutcomeKind::OnlineRequest
        ) {
            o.card_read = Some(UiRequest {
                message: Message::CardReadOkRemoveCard,
                status: Status::CardReadSuccessfully,
                hold_ms: 0,
            });
            o.data_record = self.data_record();
        }
        Step::Done(Box::new(o))
    }

    fn masked_pan(&self) -> Option<crate::pan::MaskedPan> {
        if let Some(p) = self.card.get(t::PAN).and_then(|p| Pan::from_cn(p).ok()) {
            return Some(p.masked());
        }
        // Track 2 separates the PAN from the rest with the nibble D.
        let hexed = hex::encode_upper(self.card.get(t::TRACK2)?);
        let pan_digits: String = hexed.chars().take_while(|c| *c != 'D').collect();
        Pan::parse(&pan_digits).ok().map(|p| p.masked())
    }

    fn data_record(&self) -> DataRecord {
        const CARD_TAGS: &[Tag] = &[
            t::AC,
            t::CID,
            t::ATC,
            t::IAD,
            t::AIP,
            t::PSN,
            t::TRACK2,
            t::PAN,
            t::EXPIRY,
            t::CTQ,
            t::FFI,
            t::CARD_AUTH_DATA,
            t::DF_NAME,
        ];
        let mut rec = BTreeMap::new();
        for tag in CARD_TAGS {
            if let Some(v) = self.card.get(*tag) {
                rec.insert(*tag, v.to_vec());
            }
        }
        let mut other = [0u8; 6];
        crate::bcd::encode_u64(self.inputs.amount_other, &mut other);
        rec.insert(t::AMOUNT, self.inputs.amount.to_bcd().to_vec());
        rec.insert(t::AMOUNT_OTHER, other.to_vec());
        rec.insert(t::CURRENCY, self.inputs.amount.currency.to_bcd().to_vec());
        rec.insert(t::DATE, self.inputs.date.to_vec());
        rec.insert(t::TX_TYPE, vec![self.inputs.tx_type]);
        rec.insert(t::TVR, self.tvr.bytes().to_vec());
        if let Ok(un) = self.un() {
            rec.insert(t::UN, un.to_vec());
        }
        if !self.is_kernel3() {
            rec.insert(t::CVM_RESULTS, self.cvm_results.to_vec());
        }
        if let Some(ttq) = self.current.as_ref().and_then(|c| c.indicators.ttq) {
            if self.is_kernel3() {
                rec.insert(t::TTQ, ttq.to_vec());
            }
        }
        for tag in [
            t::COUNTRY,
            t::TERMINAL_CAPS,
            t::TERMINAL_TYPE,
            t::APP_VERSION_TERMINAL,
        ] {
            if let Some(v) = self.config.tags.get(&tag) {
                rec.insert(tag, v.clone());
            }
        }
        if let Some(caps) = self.terminal_caps {
            rec.insert(t::TERMINAL_CAPS, caps.to_vec());
        }
        DataRecord(rec)
    }
}

/// The issuer action codes a card sent, if any.
pub(crate) struct TacIac<'a> {
    pub denial: Option<&'a [u8]>,
    pub online: Option<&'a [u8]>,
    pub default: Option<&'a [u8]>,
}

/// YYMMDD as a comparable number, with EMV's century rule (YY < 50 → 20YY).
fn date_key(d: &[u8]) -> u32 {
    let digits = crate::bcd::decode_u64(d.get(..3).unwrap_or(&[])).unwrap_or(0);
    let yy = digits / 10_000;
    let century = if yy < 50 { 2000 } else { 1900 };
    let year = u64::from(century as u32).saturating_add(yy);
    u32::try_from(year.saturating_mul(10_000).saturating_add(digits % 10_000)).unwrap_or(u32::MAX)
}

fn with_ui(step: Step, message: Message) -> Step {
    match step {
        Step::Done(mut o) => {
            o.ui.message = message;
            Step::Done(o)
        }
        other => other,
    }
}
