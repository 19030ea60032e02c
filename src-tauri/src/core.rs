//! The app's state and use cases as plain Rust, testable without a
//! window: every Tauri command is a one-line call into [`Core`]. Payment
//! decisions stay in `pos` (`tap`, `charge`, the queue's forwarder); this
//! only sequences them and reports each Book A step to a [`Sink`].

use crate::types::{
    AppStatus, AttestationStatus, CommandError, CurrencyInfo, DayTotals, Enrollment, ErrorCode,
    HistoryQuery, HistoryRow, MerchantQr, OfflineStatus, PaymentEvent, PaymentResult,
    QrPaymentEvent, QrPaymentResult, ReceiptView, SavedReceipt, ScannedCode, Settings, UiRequest,
    VirtualCard,
};
use crate::types::{MerchantInfo, ReviewStatus, StatementView};
use kernel::outcome::{Message, Status};
use pos::queue::Queue;
use pos::sync::{Client, Identity, SyncError};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

mod hw;
pub use hw::list_printers;

/// Where events go: the window in the app, a vector in tests.
pub trait Sink: Send + Sync {
    fn payment(&self, event: &PaymentEvent);
    fn status(&self, status: &AppStatus);
    fn qr(&self, event: &QrPaymentEvent);
}

/// How the app was started.
#[derive(Debug, Clone)]
pub struct Options {
    pub data_dir: PathBuf,
    pub acquirer_url: String,
    pub demo: bool,
    /// A fresh activation code to show prefilled (demo mode).
    pub prefilled_code: Option<String>,
    /// SHA-256 of this binary, as attestation reports it.
    pub binary_sha256: String,
    /// `SOFTPOS_READER`: "sim" or "sim:<profile>" chooses the reader.
    pub reader_override: Option<String>,
}

/// An enrolled terminal: its acquirer session and its offline queue.
struct Terminal {
    client: Client,
    queue: Queue,
}

/// The payment in progress, between "Present card" and its end.
#[derive(Debug, Clone, Copy)]
struct Pending {
    amount_minor: u64,
}

#[derive(Default)]
struct Shared {
    terminal: Option<Terminal>,
    settings: Settings,
    attestation: Option<AttestationStatus>,
    last_sync_ms: Option<u64>,
    pending: Option<Pending>,
    hw: hw::HwState,
}

/// The app's state.
pub struct Core {
    opts: Options,
    shared: Mutex<Shared>,
    network_on: AtomicBool,
    /// A card is in the field: one card loop at a time.
    card_busy: AtomicBool,
    qr_polling: Mutex<pos::qr::flow::Polling>,
    /// The QR sale in progress, for the merchant's Cancel.
    qr_cancel: Mutex<Option<pos::qr::flow::CancelToken>>,
}

fn internal(e: impl std::fmt::Display) -> CommandError {
    CommandError::new(ErrorCode::Internal, e.to_string())
}

const SETTINGS_FILE: &str = "settings.json";
const SIM_READER: &str = "sim";

impl Core {
    /// Opens the terminal in `data_dir` if it is enrolled, and the settings.
    pub fn open(opts: Options) -> Result<Arc<Core>, CommandError> {
        std::fs::create_dir_all(&opts.data_dir).map_err(internal)?;
        let mut settings: Settings = std::fs::read(opts.data_dir.join(SETTINGS_FILE))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        if let Some(r) = opts.reader_override.as_ref().filter(|r| hw::is_hardware(r)) {
            settings.reader = Some(r.clone());
        } else if let Some(r) = &opts.reader_override {
            let (reader, card) = r.split_once(':').unwrap_or((r.as_str(), ""));
            settings.reader = Some(reader.to_string());
            if !card.is_empty() {
                settings.virtual_card = card.to_string();
            }
        }
        let core = Core {
            shared: Mutex::new(Shared {
                settings,
                hw: hw::HwState {
                    scan: hw::scan(),
                    wait_id: 0,
                },
                ..Shared::default()
            }),
            network_on: AtomicBool::new(true),
            card_busy: AtomicBool::new(false),
            qr_polling: Mutex::new(pos::qr::flow::Polling::default()),
            qr_cancel: Mutex::new(None),
            opts,
        };
        if Identity::exists(&core.terminal_dir()) {
            let t = core.open_terminal(None)?;
            core.lock().terminal = Some(t);
        }
        Ok(Arc::new(core))
    }

    fn terminal_dir(&self) -> PathBuf {
        self.opts.data_dir.join("terminal")
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        // A panic while holding the lock leaves plain data behind; the
        // next user can carry on with it.
        self.shared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn base_url(&self) -> String {
        if self.network_on.load(Ordering::SeqCst) {
            self.opts.acquirer_url.clone()
        } else {
            crate::demo::nowhere()
        }
    }

    fn open_terminal(&self, code: Option<&str>) -> Result<Terminal, CommandError> {
        let dir = self.terminal_dir();
        if let (Some(code), false) = (code, Identity::exists(&dir)) {
            // Enrolling here rather than in open_terminal keeps the
            // acquirer's error classified instead of flattened to text.
            Client::enroll(&self.base_url(), code, &dir).map_err(|e| match e {
                SyncError::Unreachable(m) | SyncError::NoAnswer(m) => {
                    CommandError::new(ErrorCode::AcquirerUnreachable, m)
                }
                SyncError::Refused { code, message, .. } => {
                    CommandError::new(ErrorCode::ActivationRefused, format!("{code}: {message}"))
                }
                other => internal(other),
            })?;
        }
        let (mut client, queue) =
            pos::pay::open_terminal(&dir, &self.base_url(), None, &self.opts.binary_sha256)
                .map_err(internal)?;
        client.set_base(&self.base_url());
        Ok(Terminal { client, queue })
    }

    /// Everything the window draws from.
    pub fn status(&self) -> AppStatus {
        let s = self.lock();
        let enrollment = s.terminal.as_ref().map(|t| enrollment(t, &self.opts));
        let offline = self.offline_status(&s);
        AppStatus {
            demo: self.opts.demo,
            enrollment,
            prefilled_code: self.opts.prefilled_code.clone(),
            acquirer_url: self.opts.acquirer_url.clone(),
            readers: hw::readers(&s.hw.scan),
            reader_notes: s.hw.scan.notes.clone(),
            virtual_cards: cardsim::Profile::builtin_names()
                .filter_map(|n| {
                    cardsim::Profile::builtin(n).ok().map(|p| VirtualCard {
                        profile: n.to_string(),
                        description: p.description,
                    })
                })
                .collect(),
            settings: s.settings.clone(),
            offline,
            attestation: s.attestation.clone().unwrap_or(AttestationStatus::Unknown),
        }
    }

    fn offline_status(&self, s: &Shared) -> OfflineStatus {
        let (queued, notices) = match &s.terminal {
            Some(t) => (
                t.queue.pending().unwrap_or(0),
                t.queue
                    .entries()
                    .map(|es| {
                        es.iter()
                            .filter_map(pos::queue::Entry::merchant_notice)
                            .collect()
                    })
                    .unwrap_or_default(),
            ),
            None => (0, Vec::new()),
        };
        OfflineStatus {
            queued,
            last_sync_ms: s.last_sync_ms,
            network_on: self.network_on.load(Ordering::SeqCst),
            notices,
        }
    }

    /// First start: enrolls with the acquirer's one-time code.
    pub fn enroll(&self, code: &str) -> Result<AppStatus, CommandError> {
        let code = code.trim();
        if code.is_empty() {
            return Err(CommandError::new(
                ErrorCode::Usage,
                "enter the activation code",
            ));
        }
        if self.lock().terminal.is_some() {
            return Ok(self.status());
        }
        let t = self.open_terminal(Some(code))?;
        {
            let mut s = self.lock();
            s.terminal = Some(t);
            if s.settings.reader.is_none() && self.opts.demo {
                s.settings.reader = Some(SIM_READER.into());
            }
        }
        self.save_settings_file()?;
        Ok(self.status())
    }

    fn save_settings_file(&self) -> Result<(), CommandError> {
        let bytes = serde_json::to_vec_pretty(&self.lock().settings).map_err(internal)?;
        let path = self.opts.data_dir.join(SETTINGS_FILE);
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, bytes).map_err(internal)?;
        std::fs::rename(&tmp, &path).map_err(internal)
    }

    /// Stores the merchant's settings after checking the reader and card.
    pub fn save_settings(&self, settings: Settings) -> Result<AppStatus, CommandError> {
        if let Some(r) = &settings.reader {
            let known = hw::readers(&self.lock().hw.scan);
            if !known.iter().any(|x| &x.id == r) && !hw::unscanned_ok(r) {
                return Err(CommandError::new(
                    ErrorCode::NoReader,
                    format!("no reader {r:?}"),
                ));
            }
        }
        if cardsim::Profile::builtin(&settings.virtual_card).is_err() {
            return Err(CommandError::new(
                ErrorCode::Usage,
                format!("no virtual card {:?}", settings.virtual_card),
            ));
        }
        if !["en", "zh-CN"].contains(&settings.language.as_str()) {
            return Err(CommandError::new(
                ErrorCode::Usage,
                format!("no language {:?}", settings.language),
            ));
        }
        self.lock().settings = settings;
        self.save_settings_file()?;
        Ok(self.status())
    }

    /// Demo mode's network switch: off points the client at a closed port,
    /// so the terminal meets exactly what a dead network does.
    pub fn set_network(&self, on: bool) -> Result<AppStatus, CommandError> {
        if !self.opts.demo {
            return Err(CommandError::new(
                ErrorCode::Usage,
                "the network switch exists in demo mode only",
            ));
        }
        self.network_on.store(on, Ordering::SeqCst);
        let base = self.base_url();
        if let Some(t) = self.lock().terminal.as_mut() {
            t.client.set_base(&base);
        }
        Ok(self.status())
    }

    /// Forwards what the queue holds; true when the acquirer was reached.
    pub fn sync(&self) -> Result<AppStatus, CommandError> {
        let mut s = self.lock();
        let Some(t) = s.terminal.as_mut() else {
            return Err(not_enrolled());
        };
        let report = t
            .queue
            .forward(&mut t.client, pos::sync::now_ms())
            .map_err(internal)?;
        if report.stopped.is_none() {
            s.last_sync_ms = Some(pos::sync::now_ms());
        }
        drop(s);
        Ok(self.status())
    }

    /// Whether the background forwarder should try now: something is
    /// queued and (in demo mode) the network is on.
    pub fn wants_sync(&self) -> bool {
        if !self.network_on.load(Ordering::SeqCst) || self.card_busy.load(Ordering::SeqCst) {
            return false;
        }
        let s = self.lock();
        s.terminal
            .as_ref()
            .is_some_and(|t| t.queue.pending().unwrap_or(0) > 0)
    }

    /// Checks the attestation token before a sale: refused evidence blocks
    /// payments; an unreachable acquirer does not (offline rules apply).
    fn ensure_attested(&self, t: &mut Terminal) -> AttestationStatus {
        if t.client.is_attested() {
            return AttestationStatus::Passed;
        }
        match t.client.attest() {
            Ok(()) => AttestationStatus::Passed,
            Err(SyncError::Refused { code, message, .. }) => {
                AttestationStatus::Blocked { code, message }
            }
            Err(_) => AttestationStatus::Unknown,
        }
    }

    /// Checks the amount and the terminal, then asks for a card.
    pub fn start_payment(
        &self,
        amount_minor: u64,
        sink: &dyn Sink,
    ) -> Result<UiRequest, CommandError> {
        let mut s = self.lock();
        if s.pending.is_some() || self.card_busy.load(Ordering::SeqCst) {
            return Err(CommandError::new(
                ErrorCode::Busy,
                "a payment is in progress",
            ));
        }
        if s.settings.reader.is_none() {
            return Err(CommandError::new(ErrorCode::NoReader, "choose a reader"));
        }
        let Some(t) = s.terminal.as_mut() else {
            return Err(not_enrolled());
        };
        let max = t.client.identity().config().max_amount_minor;
        if amount_minor == 0 || amount_minor > max {
            return Err(CommandError::new(
                ErrorCode::InvalidAmount,
                format!("the amount must be 1 to {max} minor units"),
            ));
        }
        let attestation = self.ensure_attested(t);
        s.attestation = Some(attestation.clone());
        if let AttestationStatus::Blocked { code, message } = attestation {
            drop(s);
            sink.status(&self.status());
            return Err(CommandError::new(
                ErrorCode::AttestationBlocked,
                format!("{code}: {message}"),
            ));
        }
        s.pending = Some(Pending { amount_minor });
        let ui = ui(Message::PresentCard, Status::ReadyToRead, 0);
        drop(s);
        sink.payment(&PaymentEvent::Ui { ui });
        Ok(ui)
    }

    /// Abandons the payment waiting for a card.
    pub fn cancel_payment(&self) -> Result<(), CommandError> {
        if self.card_busy.load(Ordering::SeqCst) {
            return Err(CommandError::new(ErrorCode::Busy, "the card is being read"));
        }
        self.lock().pending = None;
        Ok(())
    }

    /// A card is in the field (the simulator's "present card"): runs the
    /// kernel over it, then settles the outcome with `pos::pay::charge`,
    /// reporting each Book A step. Blocking: call it off the UI thread.
    pub fn present_card(&self, sink: &dyn Sink) -> Result<(), CommandError> {
        let (pending, card) = {
            let s = self.lock();
            let Some(p) = s.pending else {
                return Err(CommandError::new(ErrorCode::Busy, "no payment is waiting"));
            };
            if s.settings.reader.as_deref() != Some(SIM_READER) {
                return Err(CommandError::new(
                    ErrorCode::NoReader,
                    "only the simulator presents cards here",
                ));
            }
            (p, s.settings.virtual_card.clone())
        };
        if self.card_busy.swap(true, Ordering::SeqCst) {
            return Err(CommandError::new(ErrorCode::Busy, "the card is being read"));
        }
        let r = self.run_card(pending, &card, sink, None);
        self.card_busy.store(false, Ordering::SeqCst);
        if let Err(e) = &r {
            self.lock().pending = None;
            sink.payment(&PaymentEvent::Failed { error: e.clone() });
        }
        sink.status(&self.status());
        r
    }

    /// `live`: the hardware reader holding the card; else the simulator
    /// presents the virtual card `card`.
    fn run_card(
        &self,
        pending: Pending,
        card: &str,
        sink: &dyn Sink,
        live: Option<&mut dyn pos::reader::Transport>,
    ) -> Result<(), CommandError> {
        sink.payment(&PaymentEvent::Ui {
            ui: ui(Message::Processing, Status::Processing, 0),
        });
        let currency = self.currency()?;
        let now = pos::clock::Now::system();
        let tap = match live {
            Some(reader) => pos::tap::tap_on_reader(
                reader,
                &pos::tap::LiveTapRequest {
                    amount: pending.amount_minor,
                    currency: currency.alpha.clone(),
                    keep_test_pan: false,
                },
                &now,
            ),
            None => pos::tap::tap(
                &pos::tap::TapRequest {
                    card: card.to_string(),
                    amount: pending.amount_minor,
                    currency: currency.alpha.clone(),
                    keep_test_pan: false,
                },
                &now,
            ),
        }
        .map_err(|e| CommandError::new(ErrorCode::NoReader, e.to_string()))?;
        let outcome = &tap.outcome;
        // The card has done its part: "Card read OK, remove card" with the
        // kernel's hold time, before the (possibly slow) online step.
        if let Some(read) = outcome.card_read {
            sink.payment(&PaymentEvent::Ui { ui: read.into() });
        }
        if outcome.kind == kernel::OutcomeKind::OnlineRequest {
            sink.payment(&PaymentEvent::Ui {
                ui: outcome.ui.into(),
            });
        }
        let paid = {
            let mut s = self.lock();
            let Some(t) = s.terminal.as_mut() else {
                return Err(not_enrolled());
            };
            let mut paid =
                pos::pay::charge(&mut t.client, &mut t.queue, outcome, pending.amount_minor)
                    .map_err(internal)?;
            // After the payment's own durable step, as `pos::pay::pay`
            // does: a history that cannot be written is told to the
            // merchant, it does not undo the payment.
            let currency = t.client.identity().config().currency;
            let recorded =
                pos::history::History::open_in(&self.terminal_dir()).and_then(|mut h| {
                    pos::history::record_charge(
                        &mut h,
                        &paid,
                        pending.amount_minor,
                        currency,
                        pos::sync::now_ms(),
                    )
                });
            if let Err(e) = recorded {
                paid.message = format!("{} (history not written: {e})", paid.message);
            }
            if paid.response.is_some() {
                s.last_sync_ms = Some(pos::sync::now_ms());
                s.attestation = Some(AttestationStatus::Passed);
            }
            paid
        };
        let retry = outcome.kind == kernel::OutcomeKind::TryAgain;
        if !retry {
            self.lock().pending = None;
        }
        let final_ui = final_ui(&paid.status, outcome);
        sink.payment(&PaymentEvent::Done {
            result: PaymentResult {
                status: (&paid.status).into(),
                card_outcome: paid.card_outcome.clone(),
                ui: final_ui,
                amount_minor: pending.amount_minor,
                masked_pan: paid.masked_pan.clone(),
                auth_code: paid.response.as_ref().and_then(|r| r.auth_code.clone()),
                tsc: paid.tsc,
                detail: paid.message.clone(),
                retry,
            },
        });
        Ok(())
    }

    fn currency(&self) -> Result<CurrencyInfo, CommandError> {
        let s = self.lock();
        let t = s.terminal.as_ref().ok_or_else(not_enrolled)?;
        currency_info(t.client.identity().config().currency)
    }

    /// A merchant-presented EMVCo code for `amount_minor`.
    pub fn merchant_qr(&self, amount_minor: u64) -> Result<MerchantQr, CommandError> {
        let (config, currency) = {
            let s = self.lock();
            let t = s.terminal.as_ref().ok_or_else(not_enrolled)?;
            let c = t.client.identity().config().clone();
            let cur = currency_info(c.currency)?;
            (c, cur)
        };
        if amount_minor == 0 || amount_minor > config.max_amount_minor {
            return Err(CommandError::new(
                ErrorCode::InvalidAmount,
                format!(
                    "the amount must be 1 to {} minor units",
                    config.max_amount_minor
                ),
            ));
        }
        let payload = pos::qr::cli::build_mpm(&pos::qr::cli::MpmArgs {
            amount: Some(amount_minor),
            currency: currency.alpha.clone(),
            merchant_name: config.merchant_name.chars().take(25).collect(),
            // The signed configuration names no city or country yet.
            city: "DEMO CITY".into(),
            country: "CN".into(),
            mcc: config.mcc.clone(),
            postal_code: None,
            bill: None,
            reference: Some(format!("{:x}", pos::sync::now_ms())),
            terminal_label: Some(config.terminal_id.chars().take(25).collect()),
            account_id: 26,
            gui: "com.softpos.demo".into(),
            merchant_id: config.merchant_id.chars().take(32).collect(),
            png: None,
            svg: None,
            no_show: true,
        })
        .map_err(|e| CommandError::new(ErrorCode::Usage, e.to_string()))?;
        let svg = pos::qr::render::svg(&payload, 280)
            .map_err(|e| CommandError::new(ErrorCode::Usage, e.to_string()))?;
        Ok(MerchantQr {
            payload,
            svg,
            amount_minor,
            expires_in_s: 120,
        })
    }
}

/// The history, receipts, refunds, voids and totals: each a call into
/// `pos::history` over the terminal's data directory.
impl Core {
    fn enrolled_dir(&self) -> Result<PathBuf, CommandError> {
        if self.lock().terminal.is_none() {
            return Err(not_enrolled());
        }
        Ok(self.terminal_dir())
    }

    /// Payments matching `query`, newest first.
    pub fn history(&self, query: &HistoryQuery) -> Result<Vec<HistoryRow>, CommandError> {
        let dir = self.enrolled_dir()?;
        let filter = filter_of(query)?;
        let records = pos::history::ops::search(&dir, &filter).map_err(pos_error)?;
        Ok(records.iter().map(HistoryRow::from).collect())
    }

    fn receipt_of(&self, tsc: u32) -> Result<pos::receipt::Receipt, CommandError> {
        let dir = self.enrolled_dir()?;
        pos::history::ops::receipt(&dir, tsc).map_err(|e| match e {
            pos::PosError::Usage(m) => CommandError::new(ErrorCode::NotFound, m),
            other => pos_error(other),
        })
    }

    /// The receipt of the payment under `tsc`, as HTML and text.
    pub fn receipt(&self, tsc: u32) -> Result<ReceiptView, CommandError> {
        let r = self.receipt_of(tsc)?;
        Ok(ReceiptView {
            tsc,
            html: r.to_html(),
            text: r.to_text(RECEIPT_WIDTH),
        })
    }

    /// Writes the receipt as a PDF into `<data dir>/receipts/`.
    pub fn save_receipt_pdf(&self, tsc: u32) -> Result<SavedReceipt, CommandError> {
        let pdf = self.receipt_of(tsc)?.to_pdf();
        let dir = self.opts.data_dir.join("receipts");
        std::fs::create_dir_all(&dir).map_err(internal)?;
        let path = dir.join(format!("receipt-{tsc}.pdf"));
        std::fs::write(&path, &pdf).map_err(internal)?;
        Ok(SavedReceipt {
            path: path.display().to_string(),
            bytes: pdf.len() as u64,
        })
    }

    /// Writes the receipt's ESC/POS bytes to the configured printer device.
    pub fn print_receipt(&self, tsc: u32) -> Result<SavedReceipt, CommandError> {
        let device = self.lock().settings.printer_device.trim().to_string();
        if let Some(queue) = device.strip_prefix("cups:") {
            return self.print_cups(tsc, queue.trim());
        }
        if device.is_empty() {
            return Err(CommandError::new(
                ErrorCode::NoPrinter,
                "no printer is configured (Settings, printer device)",
            ));
        }
        let bytes = self.receipt_of(tsc)?.to_escpos(RECEIPT_WIDTH);
        // Append, never truncate: a device node ignores it, and a file
        // standing in for a printer keeps every receipt sent to it.
        let mut out = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&device)
            .map_err(|e| CommandError::new(ErrorCode::NoPrinter, format!("{device}: {e}")))?;
        std::io::Write::write_all(&mut out, &bytes)
            .map_err(|e| CommandError::new(ErrorCode::NoPrinter, format!("{device}: {e}")))?;
        Ok(SavedReceipt {
            path: device,
            bytes: bytes.len() as u64,
        })
    }

    /// Refunds `amount_minor` (all that is left if `None`) of the approved
    /// payment under `tsc`; the refund's own row.
    pub fn refund(&self, tsc: u32, amount_minor: Option<u64>) -> Result<HistoryRow, CommandError> {
        let dir = self.enrolled_dir()?;
        self.known(&dir, tsc)?;
        let mut history = pos::history::History::open_in(&dir).map_err(internal)?;
        let mut s = self.lock();
        let t = s.terminal.as_mut().ok_or_else(not_enrolled)?;
        let adj =
            pos::history::ops::refund(&mut t.client, &mut t.queue, &mut history, tsc, amount_minor)
                .map_err(adjustment_error)?;
        Ok(HistoryRow::from(&adj.record))
    }

    /// Voids the approved, unsettled payment under `tsc`; its new row.
    pub fn void(&self, tsc: u32) -> Result<HistoryRow, CommandError> {
        let dir = self.enrolled_dir()?;
        self.known(&dir, tsc)?;
        let mut history = pos::history::History::open_in(&dir).map_err(internal)?;
        let mut s = self.lock();
        let t = s.terminal.as_mut().ok_or_else(not_enrolled)?;
        let adj =
            pos::history::ops::void(&mut t.client, &mut history, tsc).map_err(adjustment_error)?;
        Ok(HistoryRow::from(&adj.record))
    }

    fn known(&self, dir: &Path, tsc: u32) -> Result<(), CommandError> {
        let h = pos::history::History::open_in(dir).map_err(internal)?;
        match h.by_tsc(tsc).map_err(internal)? {
            Some(_) => Ok(()),
            None => Err(CommandError::new(
                ErrorCode::NotFound,
                format!("no payment with tsc {tsc} in the history"),
            )),
        }
    }

    /// One business date's totals (`YYYY-MM-DD`, UTC; today if `None`).
    pub fn totals(&self, date: Option<&str>) -> Result<DayTotals, CommandError> {
        let dir = self.enrolled_dir()?;
        let t =
            pos::history::ops::totals(&dir, date.filter(|d| !d.is_empty())).map_err(pos_error)?;
        Ok(DayTotals::from(&t))
    }

    /// A QR sale with the acquirer: a merchant-presented order whose code
    /// the window shows (`scanned` = `None`), or the customer's scanned
    /// code charged by micropay. Each step goes to `sink.qr`; the sale is
    /// recorded in the history by `pos`. Blocking until the sale ends (at
    /// most the polling timeout): call it off the UI thread.
    pub fn qr_sale(
        &self,
        amount_minor: u64,
        scanned: Option<&str>,
        sink: &dyn Sink,
    ) -> Result<QrPaymentResult, CommandError> {
        let r = self.run_qr(amount_minor, scanned, sink);
        match &r {
            Ok(result) => sink.qr(&QrPaymentEvent::Done {
                result: result.clone(),
            }),
            Err(error) => sink.qr(&QrPaymentEvent::Failed {
                error: error.clone(),
            }),
        }
        r
    }

    fn run_qr(
        &self,
        amount_minor: u64,
        scanned: Option<&str>,
        sink: &dyn Sink,
    ) -> Result<QrPaymentResult, CommandError> {
        let dir = self.enrolled_dir()?;
        if self.card_busy.load(Ordering::SeqCst) {
            return Err(CommandError::new(ErrorCode::Busy, "a card is being read"));
        }
        let currency = self.currency()?;
        if let Some(code) = scanned {
            pos::qr::CustomerCode::parse(code)
                .map_err(|e| CommandError::new(ErrorCode::InvalidCode, e.to_string()))?;
        }
        let opts = pos::qr::flow::TerminalOptions {
            acquirer: self.base_url(),
            data_dir: dir,
            activation_code: None,
            binary_sha256: self.opts.binary_sha256.clone(),
        };
        let req = pos::qr::flow::QrSaleRequest {
            amount_minor,
            currency: currency.alpha,
            polling: self
                .qr_polling
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
        };
        let mut on_event = |e: &pos::qr::flow::QrEvent<'_>| {
            if let Some(ev) = qr_event(e) {
                sink.qr(&ev);
            }
        };
        let cancel = pos::qr::flow::CancelToken::new();
        *self.qr_cancel_slot() = Some(cancel.clone());
        let r = pos::qr::flow::run_sale_cancellable(&opts, &req, scanned, &cancel, &mut on_event);
        *self.qr_cancel_slot() = None;
        let r = r.map_err(|e| match e {
            pos::PosError::Usage(m) => CommandError::new(ErrorCode::InvalidAmount, m),
            other => CommandError::new(ErrorCode::Refused, other.to_string()),
        })?;
        Ok(QrPaymentResult {
            outcome: serde_json::to_value(r.outcome)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            seq: r.seq,
            order_id: r.order_id,
            wallet: r.wallet,
            masked_code: r.masked_code,
            amount_minor: r.amount_minor,
            payment_id: r.payment_id,
            message: r.message,
        })
    }

    fn qr_cancel_slot(&self) -> MutexGuard<'_, Option<pos::qr::flow::CancelToken>> {
        self.qr_cancel
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The merchant's Cancel on the QR screen: the sale in progress stops
    /// waiting and cancels its order at the acquirer (which reverses a
    /// payment that landed meanwhile); its end still arrives as the `done`
    /// event. Nothing to cancel is no error: the sale may just have ended.
    pub fn cancel_qr(&self) -> Result<(), CommandError> {
        if let Some(c) = self.qr_cancel_slot().as_ref() {
            c.cancel();
        }
        Ok(())
    }

    /// Tests shorten how long a QR sale waits for the customer.
    pub fn set_qr_polling(&self, polling: pos::qr::flow::Polling) {
        *self
            .qr_polling
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = polling;
    }
}

/// Receipts are laid out for a 42-column (80 mm) printer.
const RECEIPT_WIDTH: usize = 42;

fn qr_event(e: &pos::qr::flow::QrEvent<'_>) -> Option<QrPaymentEvent> {
    use pos::qr::flow::QrEvent as E;
    Some(match e {
        E::Show { payload, order } => QrPaymentEvent::Show {
            order_id: order.order_id.clone(),
            payload: (*payload).to_string(),
            // A code that cannot be drawn is still shown as text.
            svg: pos::qr::render::svg(payload, 280).unwrap_or_default(),
            amount_minor: order.amount_minor,
            expires_ms: order.expires_ms,
        },
        E::Status(order) => QrPaymentEvent::Status {
            status: order.status.clone(),
            reason: order.reason.clone(),
        },
        E::Cancelling { why } => QrPaymentEvent::Cancelling {
            why: (*why).to_string(),
        },
    })
}

fn filter_of(q: &HistoryQuery) -> Result<pos::history::Filter, CommandError> {
    let usage = |e: pos::history::HistoryError| CommandError::new(ErrorCode::Usage, e.to_string());
    let some = |o: &Option<String>| {
        o.as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let (from, to) = (some(&q.from), some(&q.to));
    for d in [&from, &to].into_iter().flatten() {
        pos::history::check_day(d).map_err(usage)?;
    }
    let last4 = some(&q.last4);
    if let Some(l) = &last4 {
        if l.len() != 4 || !l.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CommandError::new(
                ErrorCode::Usage,
                "last 4 digits: four digits",
            ));
        }
    }
    Ok(pos::history::Filter {
        from,
        to,
        status: some(&q.status)
            .map(|v| v.parse())
            .transpose()
            .map_err(usage)?,
        kind: some(&q.kind)
            .map(|v| v.parse())
            .transpose()
            .map_err(usage)?,
        min_amount_minor: None,
        max_amount_minor: None,
        last4,
    })
}

fn pos_error(e: pos::PosError) -> CommandError {
    match e {
        pos::PosError::Usage(m) => CommandError::new(ErrorCode::Usage, m),
        other => internal(other),
    }
}

/// A refund or void the rules or the acquirer refused, or that got no
/// answer.
fn adjustment_error(e: pos::PosError) -> CommandError {
    match e {
        pos::PosError::Usage(m) => CommandError::new(ErrorCode::Refused, m),
        other => CommandError::new(ErrorCode::AcquirerUnreachable, other.to_string()),
    }
}

/// Recognises the code in a camera frame (PNG or JPEG).
pub fn scan_image(image: &[u8]) -> Result<ScannedCode, CommandError> {
    let texts = pos::qr::scan::decode_bytes(image)
        .map_err(|e| CommandError::new(ErrorCode::InvalidCode, e.to_string()))?;
    let first = texts
        .first()
        .ok_or_else(|| CommandError::new(ErrorCode::InvalidCode, "no QR code in view"))?;
    scan(first)
}

/// Recognises a customer's or a merchant's code.
pub fn scan(text: &str) -> Result<ScannedCode, CommandError> {
    use pos::qr::{Content, CustomerCode};
    let content = pos::qr::parse_any(text)
        .map_err(|e| CommandError::new(ErrorCode::InvalidCode, e.to_string()))?;
    let kind = match &content {
        Content::Merchant(_) => "merchant",
        Content::Customer(CustomerCode::EmvCpm(_)) => "emv_cpm",
        Content::Customer(CustomerCode::Alipay(_)) => "alipay",
        Content::Customer(CustomerCode::WeChatPay(_)) => "wechat_pay",
        Content::Customer(CustomerCode::UnionPay(_)) => "unionpay",
    };
    Ok(ScannedCode {
        kind: kind.into(),
        summary: content.to_string(),
    })
}

fn not_enrolled() -> CommandError {
    CommandError::new(ErrorCode::NotEnrolled, "this terminal is not enrolled yet")
}

fn ui(message: Message, status: Status, hold_ms: u32) -> UiRequest {
    kernel::outcome::UiRequest {
        message,
        status,
        hold_ms,
    }
    .into()
}

/// What to show at the end: the kernel's request, unless the acquirer or
/// the offline rules changed the verdict after the card was read.
fn final_ui(status: &pos::pay::PayStatus, outcome: &kernel::Outcome) -> UiRequest {
    use kernel::outcome::default_ui;
    use kernel::OutcomeKind as K;
    use pos::pay::PayStatus as P;
    match status {
        P::Approved | P::AcceptedOffline => default_ui(K::Approved).into(),
        P::Declined | P::Reversed => default_ui(K::Declined).into(),
        P::NotCompleted => outcome.ui.into(),
    }
}

fn currency_info(numeric: u16) -> Result<CurrencyInfo, CommandError> {
    let c = kernel::Currency::from_numeric(numeric)
        .map_err(|e| internal(format!("currency {numeric}: {e}")))?;
    Ok(CurrencyInfo {
        alpha: c.alpha.to_string(),
        numeric: c.numeric,
        exponent: c.exponent,
    })
}

fn enrollment(t: &Terminal, opts: &Options) -> Enrollment {
    let c = t.client.identity().config();
    Enrollment {
        terminal_id: c.terminal_id.clone(),
        merchant_id: c.merchant_id.clone(),
        merchant_name: c.merchant_name.clone(),
        mcc: c.mcc.clone(),
        acquirer_url: opts.acquirer_url.clone(),
        currency: currency_info(c.currency).unwrap_or(CurrencyInfo {
            alpha: c.currency.to_string(),
            numeric: c.currency,
            exponent: 2,
        }),
        max_amount_minor: c.max_amount_minor,
        offline_limit_minor: c.offline_limit_minor,
    }
}

/// SHA-256 of the running binary, hex: what attestation reports. Read in
/// chunks: the binary is 100 MB and more with debug information.
pub fn binary_sha256() -> String {
    use std::io::Read;
    let Ok(mut file) = std::env::current_exe().and_then(std::fs::File::open) else {
        return String::new();
    };
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => ctx.update(buf.get(..n).unwrap_or_default()),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            // An unreadable binary attests as "" and the acquirer refuses it.
            Err(_) => return String::new(),
        }
    }
    hex::encode(ctx.finish().as_ref())
}

/// The app's data directory, overridden by `SOFTPOS_DATA_DIR`.
pub fn data_dir(default: Option<&Path>) -> PathBuf {
    match std::env::var_os("SOFTPOS_DATA_DIR") {
        Some(d) => PathBuf::from(d),
        None => default
            .map(Path::to_path_buf)
            .unwrap_or_else(|| std::env::temp_dir().join("softpos-app")),
    }
}

/// Issue 6's acquirer views: the settlement statement, and the merchant's
/// information with its regular review (Settings).
impl Core {
    /// The merchant's information from the signed configuration, and where
    /// its review stands today. No network: the reminder shows offline.
    pub fn merchant_info(&self) -> Result<MerchantInfo, CommandError> {
        let s = self.lock();
        let t = s.terminal.as_ref().ok_or_else(not_enrolled)?;
        Ok(merchant_info(t.client.identity().config(), &today()))
    }

    /// The merchant confirms its information is current: the acquirer
    /// records it and moves the review; the re-signed configuration is
    /// stored. Refused if the acquirer holds other information than shown.
    pub fn confirm_merchant_info(&self) -> Result<MerchantInfo, CommandError> {
        let mut s = self.lock();
        let t = s.terminal.as_mut().ok_or_else(not_enrolled)?;
        t.client.confirm_merchant_info().map_err(acquirer_error)?;
        Ok(merchant_info(t.client.identity().config(), &today()))
    }

    /// The acquirer's statement from `from` to `to` (`YYYY-MM-DD`); by
    /// default this month up to today.
    pub fn statement(
        &self,
        from: Option<&str>,
        to: Option<&str>,
    ) -> Result<StatementView, CommandError> {
        let today = today();
        let month_start = format!("{}-01", today.get(..7).unwrap_or("1970-01"));
        let pick = |d: Option<&str>, default: &str| {
            let d = d
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .unwrap_or(default);
            match pos::sync::parse_day(d) {
                Some(_) => Ok(d.to_string()),
                None => Err(CommandError::new(
                    ErrorCode::Usage,
                    format!("{d:?} is not a date (YYYY-MM-DD)"),
                )),
            }
        };
        let (from, to) = (pick(from, &month_start)?, pick(to, &today)?);
        if to < from {
            return Err(CommandError::new(
                ErrorCode::Usage,
                "the period ends before it starts",
            ));
        }
        let mut s = self.lock();
        let t = s.terminal.as_mut().ok_or_else(not_enrolled)?;
        let statement = t.client.statement(&from, &to).map_err(acquirer_error)?;
        let currency = currency_info(t.client.identity().config().currency)?;
        Ok(StatementView::build(&statement, currency))
    }
}

fn today() -> String {
    pos::history::date_of_ms(pos::sync::now_ms())
}

fn merchant_info(c: &pos::sync::TerminalConfig, today: &str) -> MerchantInfo {
    MerchantInfo {
        merchant_id: c.merchant_id.clone(),
        merchant_name: c.merchant_name.clone(),
        mcc: c.mcc.clone(),
        mcc_description: pos::receipt::mcc::description(&c.mcc)
            .unwrap_or_default()
            .to_string(),
        acquirer_name: c.acquirer_name.clone(),
        settlement_account_masked: c.settlement_account_masked.clone(),
        fee_bps: c.fee_bps,
        fee_fixed_minor: c.fee_fixed_minor,
        settlement_delay_days: c.settlement_delay_days,
        currency: currency_info(c.currency).unwrap_or(CurrencyInfo {
            alpha: c.currency.to_string(),
            numeric: c.currency,
            exponent: 2,
        }),
        review: pos::sync::review_state(&c.info_review_due, today).map(ReviewStatus::from),
    }
}

/// An acquirer call's failure, by what the merchant can do about it.
fn acquirer_error(e: SyncError) -> CommandError {
    match e {
        SyncError::Unreachable(m) | SyncError::NoAnswer(m) => {
            CommandError::new(ErrorCode::AcquirerUnreachable, m)
        }
        SyncError::Refused { code, message, .. } => {
            CommandError::new(ErrorCode::Refused, format!("{code}: {message}"))
        }
        other => internal(other),
    }
}
