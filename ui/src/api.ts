// Typed wrappers over the shell's commands and events; the payload types
// are generated from src-tauri/src/types.rs.

import { invoke } from "@tauri-apps/api/core";
import { listen, type UnlistenFn } from "@tauri-apps/api/event";
import type {
  AppStatus,
  CommandError,
  MerchantQr,
  PaymentEvent,
  ScannedCode,
  Settings,
  UiRequest,
} from "./generated/types";

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
  onPayment: (f: (e: PaymentEvent) => void): Promise<UnlistenFn> =>
    listen<PaymentEvent>("payment", (e) => f(e.payload)),
  onStatus: (f: (s: AppStatus) => void): Promise<UnlistenFn> =>
    listen<AppStatus>("status", (e) => f(e.payload)),
};
