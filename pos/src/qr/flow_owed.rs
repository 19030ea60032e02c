//! QR cancels the terminal owes: a QR sale is recorded here before its
//! first request goes out and forgotten once its end is known. A sale still
//! here when the terminal starts again was interrupted (crash, power cut,
//! killed app) while a customer could still pay it, so it is cancelled,
//! which reverses it if it was paid: the merchant never saw it succeed.
//!
//! The record is a small JSON file in the terminal's data directory,
//! replaced atomically (write, sync, rename) at every change.

use super::flow::{Acquirer, Order};
use crate::sync::SyncError;
use crate::PosError;
use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

const FILE: &str = "qr-owed-cancels.json";

/// The sequence numbers of QR sales whose end is not known yet.
#[derive(Debug)]
pub struct OwedCancels {
    path: PathBuf,
    seqs: BTreeSet<u32>,
}

/// What settling the owed cancels did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Settled {
    /// (seq, the order's status after the cancel), or `unknown_order` when
    /// the acquirer never got the sale.
    pub done: Vec<(u32, String)>,
    /// Still owed (the acquirer could not be reached).
    pub owed: Vec<u32>,
}

fn io(e: impl std::fmt::Display) -> PosError {
    PosError::Io(format!("QR owed cancels: {e}"))
}

impl OwedCancels {
    /// Opens the record in `dir` (empty if there is none yet).
    pub fn open(dir: &Path) -> Result<OwedCancels, PosError> {
        let path = dir.join(FILE);
        let seqs = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| io(format!("{}: {e}", path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeSet::new(),
            Err(e) => return Err(io(format!("{}: {e}", path.display()))),
        };
        Ok(OwedCancels { path, seqs })
    }

    fn save(&self) -> Result<(), PosError> {
        let tmp = self.path.with_extension("json.tmp");
        let bytes = serde_json::to_vec(&self.seqs).map_err(io)?;
        let mut f = std::fs::File::create(&tmp).map_err(io)?;
        f.write_all(&bytes).map_err(io)?;
        f.sync_all().map_err(io)?;
        std::fs::rename(&tmp, &self.path).map_err(io)?;
        Ok(())
    }

    /// Records that `seq` must be cancelled unless its end becomes known;
    /// call before the sale's first request.
    pub fn arm(&mut self, seq: u32) -> Result<(), PosError> {
        if self.seqs.insert(seq) {
            self.save()?;
        }
        Ok(())
    }

    /// The sale's end is known: nothing is owed for it.
    pub fn disarm(&mut self, seq: u32) -> Result<(), PosError> {
        if self.seqs.remove(&seq) {
            self.save()?;
        }
        Ok(())
    }

    pub fn owed(&self) -> Vec<u32> {
        self.seqs.iter().copied().collect()
    }

    /// Sends every owed cancel; each one answered (or refused as an order
    /// the acquirer never saw) is forgotten.
    pub fn settle(&mut self, acq: &mut dyn Acquirer) -> Result<Settled, PosError> {
        let mut out = Settled::default();
        for seq in self.owed() {
            let body = serde_json::json!({ "seq": seq, "reason": "terminal_restart" });
            match acq.call("POST", "/v1/qr/cancel", &body) {
                Ok(v) => {
                    let status = serde_json::from_value::<Order>(v)
                        .map(|o| o.status)
                        .unwrap_or_else(|_| "answered".into());
                    self.disarm(seq)?;
                    out.done.push((seq, status));
                }
                Err(SyncError::Refused { status: 404, .. }) => {
                    self.disarm(seq)?;
                    out.done.push((seq, "unknown_order".into()));
                }
                // Settled already, or refunded: a cancel cannot undo it and
                // the merchant must refund; nothing more to send.
                Err(SyncError::Refused {
                    status: 409, code, ..
                }) => {
                    self.disarm(seq)?;
                    out.done.push((seq, code));
                }
                Err(_) => out.owed.push(seq),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    struct Answers(Vec<Result<Value, SyncError>>, Vec<Value>);

    impl Acquirer for Answers {
        fn call(&mut self, _: &str, _: &str, body: &Value) -> Result<Value, SyncError> {
            self.1.push(body.clone());
            self.0.remove(0)
        }
    }

    #[test]
    fn survives_a_restart_and_settles() {
        let dir = std::env::temp_dir().join(format!(
            "qr-owed-{}",
            hex::encode(
                ring::rand::generate::<[u8; 8]>(&ring::rand::SystemRandom::new())
                    .unwrap()
                    .expose()
            )
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let mut owed = OwedCancels::open(&dir).unwrap();
        owed.arm(3).unwrap();
        owed.arm(4).unwrap();
        owed.arm(5).unwrap();
        owed.disarm(4).unwrap();
        drop(owed);
        let mut owed = OwedCancels::open(&dir).unwrap();
        assert_eq!(owed.owed(), [3, 5]);
        let order = serde_json::json!({ "order_id": "Q1", "out_trade_no": "T-3", "seq": 3,
            "kind": "cpm", "status": "REVERSED", "amount_minor": 1, "currency": 978, "bill_number": "T-3" });
        let mut acq = Answers(
            vec![Ok(order), Err(SyncError::Unreachable("down".into()))],
            Vec::new(),
        );
        let s = owed.settle(&mut acq).unwrap();
        assert_eq!(s.done, [(3, "REVERSED".to_string())]);
        assert_eq!(s.owed, [5]);
        assert_eq!(acq.1[0]["seq"], 3);
        // Still owed after another restart; an order the acquirer never
        // saw is settled by its 404.
        let mut owed = OwedCancels::open(&dir).unwrap();
        assert_eq!(owed.owed(), [5]);
        let mut acq = Answers(
            vec![Err(SyncError::Refused {
                status: 404,
                code: "unknown_order".into(),
                message: String::new(),
            })],
            Vec::new(),
        );
        assert_eq!(owed.settle(&mut acq).unwrap().owed, Vec::<u32>::new());
        assert!(OwedCancels::open(&dir).unwrap().owed().is_empty());
        // A damaged record is an error, not an empty one.
        std::fs::write(dir.join(FILE), b"[3,").unwrap();
        assert!(OwedCancels::open(&dir).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
