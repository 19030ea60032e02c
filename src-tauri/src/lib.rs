//! The SoftPOS merchant app: a Tauri 2 shell that registers state,
//! commands and events over the `pos` crate, and nothing else. Every
//! command is a thin wrapper over [`core::Core`], which is plain Rust and
//! tested without a window.
//!
//! It must never decide a payment itself (the kernel, `pos::pay::charge`
//! and the queue do), never show or send a clear card number, and never
//! give the window more than its own commands and events.
#![forbid(unsafe_code)]

pub mod core;
pub mod demo;
pub mod render;
pub mod types;

use crate::core::{Core, Options, Sink};
use crate::types::{
    AppStatus, CommandError, DayTotals, ErrorCode, HistoryQuery, HistoryRow, MerchantQr,
    PaymentEvent, PrinterList, QrPaymentEvent, ReceiptView, SavedReceipt, ScannedCode, Settings,
    UiRequest,
};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;
use tauri::{AppHandle, Emitter, Manager, State};

/// Sends events to the window.
struct WindowSink(AppHandle);

impl Sink for WindowSink {
    fn payment(&self, event: &PaymentEvent) {
        let _ = self.0.emit("payment", event);
    }
    fn status(&self, status: &AppStatus) {
        let _ = self.0.emit("status", status);
    }
    fn qr(&self, event: &QrPaymentEvent) {
        let _ = self.0.emit("qr", event);
    }
}

/// The app's state once start-up is done. Hashing this binary (for
/// attestation) and starting the demo acquirer take a while, so they run
/// beside the window's own start; commands wait for them here.
#[derive(Default)]
struct Started {
    core: Mutex<Option<Result<Arc<Core>, CommandError>>>,
    ready: Condvar,
}

impl Started {
    fn set(&self, r: Result<Arc<Core>, CommandError>) {
        *self.core.lock().unwrap_or_else(PoisonError::into_inner) = Some(r);
        self.ready.notify_all();
    }

    /// The core, waiting at most `wait` for start-up to finish.
    fn get(&self, wait: Duration) -> Result<Arc<Core>, CommandError> {
        let guard = self.core.lock().unwrap_or_else(PoisonError::into_inner);
        let (guard, _) = self
            .ready
            .wait_timeout_while(guard, wait, |c| c.is_none())
            .unwrap_or_else(PoisonError::into_inner);
        match guard.as_ref() {
            Some(r) => r.clone(),
            None => Err(CommandError::new(ErrorCode::Busy, "the app is starting")),
        }
    }

    fn now(&self) -> Result<Arc<Core>, CommandError> {
        self.get(Duration::ZERO)
    }
}

type CoreState<'a> = State<'a, Arc<Started>>;

/// Runs blocking work (HTTP, SQLite) off the async runtime's workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, CommandError> + Send + 'static,
) -> Result<T, CommandError> {
    tauri::async_runtime::spawn_blocking(f)
        .await
        .map_err(|e| CommandError::new(ErrorCode::Internal, e.to_string()))?
}

/// The first call waits for start-up (at most 30 s).
#[tauri::command]
async fn get_status(started: CoreState<'_>) -> Result<AppStatus, CommandError> {
    let started = Arc::clone(&started);
    blocking(move || Ok(started.get(Duration::from_secs(30))?.status())).await
}

#[tauri::command]
async fn enroll(started: CoreState<'_>, code: String) -> Result<AppStatus, CommandError> {
    let core = started.now()?;
    blocking(move || core.enroll(&code)).await
}

#[tauri::command]
fn save_settings(started: CoreState<'_>, settings: Settings) -> Result<AppStatus, CommandError> {
    started.now()?.save_settings(settings)
}

#[tauri::command]
async fn set_network(
    app: AppHandle,
    started: CoreState<'_>,
    on: bool,
) -> Result<AppStatus, CommandError> {
    let core = started.now()?;
    let status = blocking(move || core.set_network(on)).await?;
    let _ = app.emit("status", &status);
    Ok(status)
}

#[tauri::command]
async fn sync_now(started: CoreState<'_>) -> Result<AppStatus, CommandError> {
    let core = started.now()?;
    blocking(move || core.sync()).await
}

#[tauri::command]
async fn start_payment(
    app: AppHandle,
    started: CoreState<'_>,
    amount_minor: u64,
) -> Result<UiRequest, CommandError> {
    let core = started.now()?;
    blocking(move || {
        let ui = core.start_payment(amount_minor, &WindowSink(app.clone()))?;
        if core.uses_hardware_reader() {
            std::thread::spawn(move || {
                // Failures are reported as a `failed` event.
                let _ = core.wait_for_hardware_card(&WindowSink(app));
            });
        }
        Ok(ui)
    })
    .await
}

#[tauri::command]
fn cancel_payment(started: CoreState<'_>) -> Result<(), CommandError> {
    started.now()?.cancel_payment()
}

/// Returns at once; the payment's steps arrive as `payment` events.
#[tauri::command]
fn present_card(app: AppHandle, started: CoreState<'_>) -> Result<(), CommandError> {
    let core = started.now()?;
    std::thread::spawn(move || {
        // Failures are reported as a `failed` event by present_card.
        let _ = core.present_card(&WindowSink(app));
    });
    Ok(())
}

/// Scans for PC/SC and libnfc readers again.
#[tauri::command]
async fn refresh_readers(
    app: AppHandle,
    started: CoreState<'_>,
) -> Result<AppStatus, CommandError> {
    let core = started.now()?;
    let status = blocking(move || Ok(core.refresh_readers())).await?;
    let _ = app.emit("status", &status);
    Ok(status)
}

/// The system's (CUPS) printers.
#[tauri::command]
async fn list_printers() -> Result<PrinterList, CommandError> {
    blocking(|| Ok(core::list_printers())).await
}

#[tauri::command]
fn merchant_qr(started: CoreState<'_>, amount_minor: u64) -> Result<MerchantQr, CommandError> {
    started.now()?.merchant_qr(amount_minor)
}

#[tauri::command]
fn scan_code(text: String) -> Result<ScannedCode, CommandError> {
    core::scan(&text)
}

/// A camera frame as the raw request body (no JSON number arrays).
#[tauri::command]
fn scan_image(request: tauri::ipc::Request<'_>) -> Result<ScannedCode, CommandError> {
    match request.body() {
        tauri::ipc::InvokeBody::Raw(bytes) => core::scan_image(bytes),
        tauri::ipc::InvokeBody::Json(_) => Err(CommandError::new(
            ErrorCode::Usage,
            "send the frame as raw bytes",
        )),
    }
}

#[tauri::command]
async fn history(
    started: CoreState<'_>,
    query: HistoryQuery,
) -> Result<Vec<HistoryRow>, CommandError> {
    let core = started.now()?;
    blocking(move || core.history(&query)).await
}

#[tauri::command]
async fn receipt(started: CoreState<'_>, tsc: u32) -> Result<ReceiptView, CommandError> {
    let core = started.now()?;
    blocking(move || core.receipt(tsc)).await
}

#[tauri::command]
async fn save_receipt_pdf(started: CoreState<'_>, tsc: u32) -> Result<SavedReceipt, CommandError> {
    let core = started.now()?;
    blocking(move || core.save_receipt_pdf(tsc)).await
}

#[tauri::command]
async fn print_receipt(started: CoreState<'_>, tsc: u32) -> Result<SavedReceipt, CommandError> {
    let core = started.now()?;
    blocking(move || core.print_receipt(tsc)).await
}

#[tauri::command]
async fn refund(
    started: CoreState<'_>,
    tsc: u32,
    amount_minor: Option<u64>,
) -> Result<HistoryRow, CommandError> {
    let core = started.now()?;
    blocking(move || core.refund(tsc, amount_minor)).await
}

#[tauri::command]
async fn void_payment(started: CoreState<'_>, tsc: u32) -> Result<HistoryRow, CommandError> {
    let core = started.now()?;
    blocking(move || core.void(tsc)).await
}

#[tauri::command]
async fn totals(started: CoreState<'_>, date: Option<String>) -> Result<DayTotals, CommandError> {
    let core = started.now()?;
    blocking(move || core.totals(date.as_deref())).await
}

/// Returns at once; the sale's steps arrive as `qr` events. `code` is the
/// customer's scanned code; without it the acquirer's order is shown.
#[tauri::command]
fn qr_charge(
    app: AppHandle,
    started: CoreState<'_>,
    amount_minor: u64,
    code: Option<String>,
) -> Result<(), CommandError> {
    let core = started.now()?;
    std::thread::spawn(move || {
        // Failures are reported as a `failed` event by qr_sale.
        let _ = core.qr_sale(amount_minor, code.as_deref(), &WindowSink(app));
    });
    Ok(())
}

#[tauri::command]
fn merchant_info(started: CoreState<'_>) -> Result<types::MerchantInfo, CommandError> {
    started.now()?.merchant_info()
}

#[tauri::command]
async fn confirm_merchant_info(
    started: CoreState<'_>,
) -> Result<types::MerchantInfo, CommandError> {
    let core = started.now()?;
    blocking(move || core.confirm_merchant_info()).await
}

#[tauri::command]
async fn statement(
    started: CoreState<'_>,
    from: Option<String>,
    to: Option<String>,
) -> Result<types::StatementView, CommandError> {
    let core = started.now()?;
    blocking(move || core.statement(from.as_deref(), to.as_deref())).await
}

/// The merchant's Cancel for the QR sale in progress; its end still
/// arrives as the sale's `done` event.
#[tauri::command]
fn qr_cancel(started: CoreState<'_>) -> Result<(), CommandError> {
    started.now()?.cancel_qr()
}

/// Forwards queued payments in the background while there are some.
fn spawn_forwarder(app: AppHandle, core: Arc<Core>) {
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_secs(2));
        if core.wants_sync() {
            if let Ok(status) = core.sync() {
                let _ = app.emit("status", &status);
            }
        }
    });
}

/// Lets the page use the camera (and only the camera): WebKitGTK refuses
/// getUserMedia unless media streams are enabled and the permission
/// request is answered. `SOFTPOS_MOCK_CAMERA=1` swaps in WebKit's mock
/// capture device for tests.
#[cfg(target_os = "linux")]
fn allow_camera(window: &tauri::WebviewWindow) {
    let mock = std::env::var_os("SOFTPOS_MOCK_CAMERA").is_some();
    let _ = window.with_webview(move |wv| {
        use webkit2gtk::glib::prelude::Cast;
        use webkit2gtk::{
            PermissionRequestExt, SettingsExt, UserMediaPermissionRequest,
            UserMediaPermissionRequestExt, WebViewExt,
        };
        let view = wv.inner();
        if let Some(settings) = WebViewExt::settings(&view) {
            settings.set_enable_media_stream(true);
            settings.set_enable_mock_capture_devices(mock);
        }
        view.connect_permission_request(|_, req| {
            match req.downcast_ref::<UserMediaPermissionRequest>() {
                Some(m) if m.is_for_video_device() && !m.is_for_audio_device() => req.allow(),
                _ => req.deny(),
            }
            true
        });
    });
}

#[cfg(not(target_os = "linux"))]
fn allow_camera(_: &tauri::WebviewWindow) {}

/// `SOFTPOS_TIMING=1`: prints how long each start-up phase took, for
/// docs/benchmarks.md.
fn timing(phase: &str, since: std::time::Instant) {
    if std::env::var_os("SOFTPOS_TIMING").is_some() {
        eprintln!(
            "softpos-app timing: {phase} at {} ms",
            since.elapsed().as_millis()
        );
    }
}

fn setup(app: &mut tauri::App) -> Result<(), Box<dyn std::error::Error>> {
    let t0 = std::time::Instant::now();
    let started = Arc::new(Started::default());
    app.manage(Arc::clone(&started));
    let data_dir = core::data_dir(app.path().app_data_dir().ok().as_deref());
    let handle = app.handle().clone();
    std::thread::spawn(move || {
        let r = start(&handle, data_dir, t0);
        if let Ok(core) = &r {
            spawn_forwarder(handle.clone(), Arc::clone(core));
        }
        started.set(r);
        timing("acquirer and terminal ready", t0);
    });
    let window =
        tauri::WebviewWindowBuilder::new(app, "main", tauri::WebviewUrl::App("index.html".into()))
            .title("SoftPOS")
            .inner_size(420.0, 780.0)
            .build()?;
    allow_camera(&window);
    timing("window built", t0);
    Ok(())
}

/// Hashes this binary, starts the demo acquirer unless one is named, and
/// opens the terminal.
fn start(
    app: &AppHandle,
    data_dir: std::path::PathBuf,
    t0: std::time::Instant,
) -> Result<Arc<Core>, CommandError> {
    let binary_sha256 = core::binary_sha256();
    timing("binary hashed", t0);
    let (demo, acquirer_url, prefilled_code) = match std::env::var("SOFTPOS_ACQUIRER") {
        Ok(url) if !url.is_empty() => (false, url, None),
        _ => {
            // A demo of what a refused attestation looks like: the demo
            // acquirer allows some other binary.
            let allowed = if std::env::var_os("SOFTPOS_DEMO_REFUSE_ATTESTATION").is_some() {
                "0".repeat(64)
            } else {
                binary_sha256.clone()
            };
            let acq = demo::start(&data_dir.join("demo"), &allowed)
                .map_err(|e| CommandError::new(ErrorCode::Internal, e))?;
            let url = acq.url.clone();
            let code = acq.activation_code.clone();
            // Lives as long as the app.
            app.manage(acq);
            (true, url, Some(code))
        }
    };
    Core::open(Options {
        data_dir,
        acquirer_url,
        demo,
        prefilled_code,
        binary_sha256,
        reader_override: std::env::var("SOFTPOS_READER")
            .ok()
            .filter(|r| !r.is_empty()),
    })
}

/// Starts the app; the exit code says whether it could.
pub fn run() -> std::process::ExitCode {
    // Before GTK starts and before any thread does.
    render::apply_software_defaults();
    let r = tauri::Builder::default()
        .invoke_handler(tauri::generate_handler![
            get_status,
            enroll,
            save_settings,
            set_network,
            sync_now,
            start_payment,
            cancel_payment,
            present_card,
            merchant_qr,
            scan_code,
            scan_image,
            history,
            receipt,
            save_receipt_pdf,
            print_receipt,
            refund,
            void_payment,
            totals,
            qr_charge,
            merchant_info,
            confirm_merchant_info,
            statement,
            qr_cancel,
            refresh_readers,
            list_printers,
        ])
        .setup(setup)
        .run(tauri::generate_context!());
    match r {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("softpos-app: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
