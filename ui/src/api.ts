// Typed wrappers over the shell's commands and events; the payload types
// are generated from src-tauri/src/types.rs.

import { invoke } from "@tauri-apps/api/core";
import { listen, type UnlistenFn } from "@tauri-apps/api/event";
import type {
  AppStatus,
  CommandError,
  DayTotals,
  HistoryQuery,
  HistoryRow,
  MerchantQr,
  PaymentEvent,
  PrinterList,
  QrPaymentEvent,
  ReceiptView,
  SavedReceipt,
  ScannedCode,
  Settings,
  UiRequest,
} from "./generated/types";
import type { MerchantInfo, StatementView } from "./generated/types";

/** A command's error, as the shell classifies it. */
export function asCommandError(e: unknown): CommandError {
  if (e && typeof e === "object" && "code" in e && "message" in e) return e as CommandError;
  return { code: "internal", message: String(e) };
}

export const api = {
  status: () => invoke<AppStatus>("get_status"),
  enroll: (code: string) => invoke<AppStatus>("enroll", { code }),
  saveSettings: (settings: Settings) => invoke<AppStatus>("save_settings", { settings }),
  setNetwork: (on: boolean) => invoke<AppStatus>("set_network", { on }),
  syncNow: () => invoke<AppStatus>("sync_now"),
  startPayment: (amountMinor: number) => invoke<UiRequest>("start_payment", { amountMinor }),
  cancelPayment: () => invoke<void>("cancel_payment"),
  presentCard: () => invoke<void>("present_card"),
  merchantQr: (amountMinor: number) => invoke<MerchantQr>("merchant_qr", { amountMinor }),
  scanCode: (text: string) => invoke<ScannedCode>("scan_code", { text }),
  scanImage: (png: Uint8Array) => invoke<ScannedCode>("scan_image", png),
  history: (query: HistoryQuery) => invoke<HistoryRow[]>("history", { query }),
  receipt: (tsc: number) => invoke<ReceiptView>("receipt", { tsc }),
  saveReceiptPdf: (tsc: number) => invoke<SavedReceipt>("save_receipt_pdf", { tsc }),
  printReceipt: (tsc: number) => invoke<SavedReceipt>("print_receipt", { tsc }),
  refund: (tsc: number, amountMinor: number | null) => invoke<HistoryRow>("refund", { tsc, amountMinor }),
  voidPayment: (tsc: number) => invoke<HistoryRow>("void_payment", { tsc }),
  totals: (date: string | null) => invoke<DayTotals>("totals", { date }),
  /** A QR sale with the acquirer; its steps arrive as `qr` events. */
  qrCharge: (amountMinor: number, code: string | null) => invoke<void>("qr_charge", { amountMinor, code }),
  /** The acquirer's statement; `null` dates: this month up to today. */
  statement: (from: string | null, to: string | null) => invoke<StatementView>("statement", { from, to }),
  merchantInfo: () => invoke<MerchantInfo>("merchant_info"),
  confirmMerchantInfo: () => invoke<MerchantInfo>("confirm_merchant_info"),
  /** The merchant's Cancel for the QR sale in progress. */
  qrCancel: () => invoke<void>("qr_cancel"),
  /** Scans for PC/SC and libnfc readers again. */
  refreshReaders: () => invoke<AppStatus>("refresh_readers"),
  /** The system's (CUPS) printers. */
  listPrinters: () => invoke<PrinterList>("list_printers"),
  onQr: (f: (e: QrPaymentEvent) => void): Promise<UnlistenFn> => listen<QrPaymentEvent>("qr", (e) => f(e.payload)),
  onPayment: (f: (e: PaymentEvent) => void): Promise<UnlistenFn> =>
    listen<PaymentEvent>("payment", (e) => f(e.payload)),
  onStatus: (f: (s: AppStatus) => void): Promise<UnlistenFn> =>
    listen<AppStatus>("status", (e) => f(e.payload)),
};
