//! Building a session from a live run.

use crate::format::{Exchange, Expect, Session, StartSpec, TerminalSpec, TransactionSpec, FORMAT};
use crate::hexstr::{Hex, TagKey};
use crate::mask::{self, Masker};
use kernel::{Outcome, Start, TransactionInputs};

/// Collects the exchanges of a run as they happen.
#[derive(Debug, Default, Clone)]
pub struct Recorder {
    exchanges: Vec<Exchange>,
    removed: bool,
}

impl Recorder {
    pub fn new() -> Self {
        Recorder::default()
    }

    /// Records one command, the card's answer and how long it took.
    pub fn record(&mut self, command: &[u8], response: &[u8], ms: Option<u64>) {
        self.exchanges.push(Exchange {
            c: Hex(command.to_vec()),
            r: Hex(response.to_vec()),
            ms,
        });
    }

    /// The card left the field (or went silent) after the last exchange.
    pub fn card_removed(&mut self) {
        self.removed = true;
    }

    pub fn was_card_removed(&self) -> bool {
        self.removed
    }

    pub fn exchanges(&self) -> &[Exchange] {
        &self.exchanges
    }

    pub fn into_exchanges(self) -> Vec<Exchange> {
        self.exchanges
    }
}

/// Everything known about a finished run.
pub struct Run<'a> {
    pub title: Option<String>,
    /// `cardsim:<profile>`, `nfc:<connstring>`, `pcsc:<reader>`.
    pub source: Option<String>,
    /// RFC 3339 UTC; the caller reads the clock, not this crate.
    pub recorded_at: Option<String>,
    pub reader: Option<String>,
    pub terminal: TerminalSpec,
    pub inputs: &'a TransactionInputs,
    pub exchanges: Vec<Exchange>,
    /// The card left the field after the last exchange.
    pub card_removed: bool,
    pub outcome: &'a Outcome,
    /// Keep PAN and track data in clear: only for test cards.
    pub keep_test_pan: bool,
}

impl Session {
    /// A session that replays the run: its inputs, its exchanges (masked
    /// unless `keep_test_pan`) and its outcome as `expect`.
    pub fn from_run(run: Run<'_>) -> Session {
        let mut notes = Vec::new();
        let exchanges = if run.keep_test_pan {
            notes.push("recorded with keep_test_pan: card data in clear (test card)".into());
            run.exchanges
        } else {
            let mut masker = Masker::new();
            for x in &run.exchanges {
                masker.learn(&x.r.0);
            }
            let masked: Vec<Exchange> = run
                .exchanges
                .iter()
                .map(|x| Exchange {
                    c: Hex(masker.mask(&x.c.0)),
                    r: Hex(masker.mask(&x.r.0)),
                    ms: x.ms,
                })
                .collect();
            if masked != run.exchanges {
                notes.push(
                    "PAN, track data and cardholder name masked: certificate PAN checks \
                     (fDDA/CDA) see the masked PAN, so ODA may not replay as recorded"
                        .into(),
                );
            }
            masked
        };
        let o = run.outcome;
        let data_record = o
            .data_record
            .0
            .iter()
            .filter(|(tag, _)| !mask::is_masked_tag(**tag))
            .map(|(tag, v)| (TagKey(*tag), Hex(v.clone())))
            .collect();
        Session {
            format: FORMAT.into(),
            title: run.title,
            source: run.source,
            recorded_at: run.recorded_at,
            reader: run.reader,
            terminal: run.terminal,
            start: match run.inputs.start {
                Start::Ppse => None,
                Start::FinalSelection => Some(StartSpec::FinalSelection),
            },
            transaction: TransactionSpec::from_inputs(run.inputs),
            exchanges,
            card_removed: run.card_removed,
            expect: Some(Expect {
                outcome: Some(o.kind.as_str().into()),
                cvm: Some(o.cvm.as_str().into()),
                oda: Some(o.oda.as_str().into()),
                data_record,
            }),
            notes,
        }
    }
}
