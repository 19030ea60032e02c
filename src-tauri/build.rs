/// The app's own commands: listing them makes each one need a permission,
/// which capabilities/default.json grants to the main window only.
const COMMANDS: &[&str] = &[
    "get_status",
    "enroll",
    "save_settings",
    "set_network",
    "sync_now",
    "start_payment",
    "cancel_payment",
    "present_card",
    "merchant_qr",
    "scan_code",
    "scan_image",
    "history",
    "receipt",
    "save_receipt_pdf",
    "print_receipt",
    "refund",
    "void_payment",
    "totals",
    "qr_charge",
    "merchant_info",
    "confirm_merchant_info",
    "statement",
    "qr_cancel",
    "refresh_readers",
    "list_printers",
];

fn main() {
    // generate_context! embeds ui/dist in the binary, but nothing tells
    // cargo to rebuild when the UI is rebuilt: this does.
    println!("cargo:rerun-if-changed=../ui/dist");
    let attrs = tauri_build::Attributes::new()
        .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS));
    if let Err(e) = tauri_build::try_build(attrs) {
        println!("cargo:warning=tauri-build: {e:#}");
        std::process::exit(1);
    }
}
