// The merchant's screens, in plain TypeScript: one state object, one
// render function, and the shell's commands and events. Logic worth
// testing lives in money.ts, payment.ts and i18n.ts.

import "./style.css";
import { api, asCommandError } from "./api";
import type {
  AppStatus,
  CommandError,
  DayTotals,
  HistoryQuery,
  HistoryRow,
  HwNote,
  PrinterList,
  QrPaymentEvent,
  QrPaymentResult,
  ReceiptView,
  ScannedCode,
  Settings,
} from "./generated/types";
import type { MerchantInfo, StatementView } from "./generated/types";
import { dictionaries, errorKey, language, setLanguage, t, type Key, type Lang } from "./i18n";
import { formatBps } from "./money";
import { emptyEntry, formatAmount, formatMinor, minorUnits, parseMinor, press, type AmountEntry, type Key as PadKey } from "./money";
import * as pay from "./payment";
import { play } from "./sound";

type Screen = "enroll" | "sale" | "pay" | "qr" | "scan" | "history" | "receipt" | "settings" | "statement";

/** A QR sale with the acquirer, as its `qr` events arrive. */
interface QrSale {
  amountMinor: number;
  /** The customer's code was scanned (micropay), or the order is shown. */
  scanned: boolean;
  shown: { orderId: string; payload: string; svg: string; expiresMs: number } | null;
  status: string | null;
  cancelling: boolean;
  /** The merchant pressed Cancel; the sale's end is still to come. */
  cancelRequested: boolean;
  result: QrPaymentResult | null;
  error: CommandError | null;
}

interface HistoryView {
  query: HistoryQuery;
  rows: HistoryRow[] | null;
  totalsDate: string;
  totals: DayTotals | null;
}

interface ReceiptScreen {
  row: HistoryRow;
  view: ReceiptView | null;
  note: string | null;
  refundText: string;
}

interface State {
  status: AppStatus | null;
  screen: Screen;
  entry: AmountEntry;
  payment: pay.PaymentState;
  error: CommandError | null;
  busy: boolean;
  code: string;
  enrolledJustNow: boolean;
  qr: QrSale | null;
  history: HistoryView;
  receipt: ReceiptScreen | null;
  scan: { text: string; result: ScannedCode | null };
  settingsSaved: boolean;
  cameraOn: boolean;
}

const state: State = {
  status: null,
  screen: "enroll",
  entry: emptyEntry,
  payment: pay.initial,
  error: null,
  busy: false,
  code: "",
  enrolledJustNow: false,
  qr: null,
  history: { query: { from: null, to: null, status: null, kind: null, last4: null }, rows: null, totalsDate: today(), totals: null },
  receipt: null,
  scan: { text: "", result: null },
  settingsSaved: false,
  cameraOn: false,
};

const root = document.getElementById("app") as HTMLElement;

/** Today's UTC date, as the history's business dates are. */
function today(): string {
  return new Date().toISOString().slice(0, 10);
}

type Child = Node | string | null | false | undefined;

function h(tag: string, attrs: Record<string, unknown> = {}, ...children: Child[]): HTMLElement {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") {
      el.addEventListener(k.slice(2).toLowerCase(), v as EventListener);
    } else if (k === "value") {
      (el as HTMLInputElement).value = String(v);
    } else if (k === "checked") {
      (el as HTMLInputElement).checked = Boolean(v);
    } else if (k === "html") {
      el.innerHTML = String(v);
    } else {
      el.setAttribute(k, v === true ? "" : String(v));
    }
  }
  for (const c of children) {
    if (c === null || c === false || c === undefined) continue;
    el.append(typeof c === "string" ? document.createTextNode(c) : c);
  }
  return el;
}

function currency() {
  return state.status?.enrollment?.currency ?? { alpha: "EUR", numeric: 978, exponent: 2 };
}

function money(minor: number): string {
  return formatAmount(minor, currency());
}

async function attempt<T>(f: () => Promise<T>): Promise<T | undefined> {
  state.error = null;
  state.busy = true;
  render();
  try {
    return await f();
  } catch (e) {
    state.error = asCommandError(e);
    return undefined;
  } finally {
    state.busy = false;
    render();
  }
}

function applyStatus(s: AppStatus): void {
  state.status = s;
  setLanguage(s.settings.language === "zh-CN" ? "zh-CN" : "en");
  document.documentElement.lang = language();
}

// ---------- banners

function banners(): HTMLElement {
  const s = state.status;
  const box = h("div", { class: "banners" });
  if (!s || !s.enrollment) return box;
  const o = s.offline;
  if (s.attestation.state === "blocked") {
    box.append(
      h(
        "div",
        { class: "banner blocked", id: "attestation-banner", role: "alert" },
        h("strong", {}, t("attest.blocked")),
        h("div", {}, t("attest.reason", { reason: `${s.attestation.code}: ${s.attestation.message}` })),
        h("div", {}, t("attest.action", { terminal: s.enrollment.terminalId })),
      ),
    );
  }
  const offline = o.queued > 0 || !o.networkOn;
  const last = o.lastSyncMs ? t("offline.lastSync", { time: new Date(o.lastSyncMs).toLocaleTimeString(language()) }) : t("offline.never");
  box.append(
    h(
      "div",
      { class: `banner ${offline ? "offline" : "online"}`, id: "offline-banner" },
      h("span", { id: "offline-text" }, offline ? t("offline.banner", { count: o.queued }) : t("offline.online")),
      h("span", { class: "muted" }, ` · ${last}`),
      o.queued > 0 && h("button", { class: "link", id: "sync-now", onclick: () => attempt(async () => applyStatus(await api.syncNow())) }, t("offline.syncNow")),
      s.demo &&
        h(
          "label",
          { class: "switch" },
          h("input", {
            type: "checkbox",
            id: "network-switch",
            checked: o.networkOn,
            onchange: (e: Event) => attempt(async () => applyStatus(await api.setNetwork((e.target as HTMLInputElement).checked))),
          }),
          ` ${t("offline.network")}: ${o.networkOn ? t("offline.networkOn") : t("offline.networkOff")}`,
        ),
    ),
  );
  for (const n of o.notices) box.append(h("div", { class: "banner blocked" }, n));
  if (state.screen !== "settings") box.append(...reviewBanner(true));
  return box;
}

function errorBox(): Child {
  const e = state.error;
  if (!e) return null;
  return h("div", { class: "error", id: "error", role: "alert" }, h("strong", {}, t(errorKey(e.code))), h("div", { class: "muted" }, e.message));
}

function nav(): HTMLElement {
  const item = (screen: Screen, key: Key) =>
    h("button", { class: state.screen === screen ? "tab active" : "tab", id: `nav-${screen}`, onclick: () => go(screen) }, t(key));
  return h("nav", {}, item("sale", "nav.sale"), item("history", "nav.history"), item("statement", "nav.statement"), item("settings", "nav.settings"));
}

function go(screen: Screen): void {
  const entering = screen === "history" && state.screen !== "history" && state.screen !== "receipt";
  state.screen = screen;
  state.error = null;
  state.settingsSaved = false;
  render();
  if (entering) void loadHistory();
  if (screen === "statement" && !acq.statement) void loadStatement();
  if (screen === "settings") void loadMerchantInfo();
}

// ---------- enrollment

function enrollScreen(s: AppStatus): HTMLElement {
  const e = s.enrollment;
  if (!e) {
    return h(
      "section",
      { class: "card", id: "enroll" },
      h("h1", {}, t("enroll.title")),
      h("p", {}, s.demo ? t("enroll.demoIntro") : t("enroll.intro")),
      h("label", { for: "code" }, t("enroll.code")),
      h("input", { id: "code", value: state.code, autocomplete: "off", oninput: (ev: Event) => (state.code = (ev.target as HTMLInputElement).value) }),
      h(
        "button",
        {
          class: "primary",
          id: "enroll-submit",
          disabled: state.busy,
          onclick: () =>
            attempt(async () => {
              applyStatus(await api.enroll(state.code));
              state.enrolledJustNow = true;
            }),
        },
        state.busy ? t("enroll.busy") : t("enroll.submit"),
      ),
      errorBox(),
    );
  }
  const row = (k: Key, v: string, id: string) => h("div", { class: "row" }, h("span", { class: "muted" }, t(k)), h("strong", { id }, v));
  return h(
    "section",
    { class: "card", id: "enrolled" },
    h("h1", {}, t("enroll.done")),
    row("enroll.merchant", e.merchantName, "merchant-name"),
    row("enroll.mcc", e.mcc, "merchant-mcc"),
    row("enroll.acquirer", e.acquirerUrl, "merchant-acquirer"),
    row("enroll.terminal", e.terminalId, "terminal-id"),
    row("enroll.currency", e.currency.alpha, "terminal-currency"),
    h("label", { for: "reader" }, t("enroll.reader")),
    readerSelect(s),
    h("button", { class: "primary", id: "enroll-continue", onclick: () => go("sale") }, t("enroll.continue")),
    errorBox(),
  );
}

function readerSelect(s: AppStatus): HTMLElement {
  return h(
    "div",
    { class: "reader-pick" },
    h(
      "select",
      {
        id: "reader",
        onchange: (ev: Event) => saveSettings({ ...s.settings, reader: (ev.target as HTMLSelectElement).value }),
      },
      // Nothing chosen yet: an empty first option, so that choosing the
      // simulator is a change too.
      !s.settings.reader && h("option", { value: "", selected: true }, "—"),
      ...s.readers.map((r) => h("option", { value: r.id, selected: s.settings.reader === r.id }, r.simulated ? t("reader.sim") : r.label)),
    ),
    h("button", { id: "reader-refresh", onclick: () => refreshReaders() }, t("reader.refresh")),
    ...hwNotes(s.readerNotes, "reader-notes"),
  );
}

// ---------- hardware readers and system printers

async function refreshReaders(): Promise<void> {
  const r = await attempt(() => api.refreshReaders());
  if (r) {
    applyStatus(r);
    render();
  }
}

/** Why a reader or printer scan found nothing, in the merchant's language. */
function hwNotes(notes: HwNote[], id: string): HTMLElement[] {
  if (notes.length === 0) return [];
  return [
    h(
      "ul",
      { class: "muted small hw-notes", id },
      ...notes.map((n) =>
        h("li", { "data-source": n.source, "data-kind": n.kind }, `${t(`hw.src.${n.source}` as Key)}: ${t(`hw.kind.${n.kind}` as Key)}`, h("div", { class: "detail" }, n.detail)),
      ),
    ),
  ];
}

let printers: PrinterList | null = null;

async function findPrinters(): Promise<void> {
  const r = await attempt(() => api.listPrinters());
  if (r) {
    printers = r;
    render();
  }
}

function printerPicker(s: AppStatus): HTMLElement {
  return h(
    "div",
    { class: "printer-pick" },
    h("button", { id: "printer-find", onclick: () => findPrinters() }, t("printer.find")),
    printers !== null && printers.printers.length === 0 && h("div", { class: "muted small", id: "printer-none" }, t("printer.none")),
    ...(printers?.printers ?? []).map((p) =>
      h(
        "button",
        { class: "printer-use", "data-printer": p.id, onclick: () => saveSettings({ ...s.settings, printerDevice: p.id }) },
        t("printer.use", { printer: p.label }),
      ),
    ),
    ...hwNotes(printers?.notes ?? [], "printer-notes"),
  );
}

async function saveSettings(settings: Settings): Promise<void> {
  const r = await attempt(() => api.saveSettings(settings));
  if (r) {
    applyStatus(r);
    state.settingsSaved = true;
    render();
  }
}

// ---------- sale (amount keypad)

function saleScreen(s: AppStatus): HTMLElement {
  const e = s.enrollment;
  const minor = minorUnits(state.entry);
  const key = (k: PadKey, label: string = k) =>
    h("button", { class: "key", "data-key": k, onclick: () => { state.entry = press(state.entry, k); state.error = null; render(); } }, label);
  const over = e ? minor > e.maxAmountMinor : false;
  // A refused attestation blocks every payment; the banner says why.
  const blocked = s.attestation.state === "blocked";
  return h(
    "section",
    { id: "sale" },
    h("div", { class: "amount", id: "amount" }, money(minor)),
    e && h("div", { class: "muted center" }, t("sale.limit", { amount: money(e.maxAmountMinor) })),
    h(
      "div",
      { class: "keypad" },
      ...(["1", "2", "3", "4", "5", "6", "7", "8", "9", "00", "0"] as PadKey[]).map((k) => key(k)),
      key("back", "⌫"),
    ),
    h(
      "button",
      { class: "primary big", id: "charge", disabled: minor === 0 || over || blocked || state.busy, onclick: startCard },
      t("sale.charge", { amount: money(minor) }),
    ),
    h(
      "div",
      { class: "row" },
      h("button", { id: "qr-button", disabled: minor === 0 || over || blocked || state.busy, onclick: () => startQr(minor, null) }, t("sale.qr")),
      h("button", { id: "scan-button", onclick: () => { state.scan = { text: "", result: null }; go("scan"); } }, t("sale.scan")),
    ),
    errorBox(),
  );
}

async function startCard(): Promise<void> {
  const minor = minorUnits(state.entry);
  state.payment = pay.initial;
  const ui = await attempt(() => api.startPayment(minor));
  if (ui) {
    // The `payment` event carries the same request; the answer is a
    // fallback should the event come first or not at all.
    if (!state.payment.shown) state.payment = pay.receive(state.payment, { kind: "ui", ui }, Date.now());
    state.screen = "pay";
    render();
  }
}

// ---------- the payment screen (Book A)

let holdTimer: number | undefined;

function onPaymentEvent(e: import("./generated/types").PaymentEvent): void {
  const before = state.payment.shown;
  state.payment = pay.receive(state.payment, e, Date.now());
  afterPaymentChange(before);
}

function afterPaymentChange(before: pay.Shown | null): void {
  const now = state.payment.shown;
  if (now && now !== before && state.status?.settings.sounds) {
    const tone = pay.tone(now);
    if (tone) play(tone);
  }
  if (holdTimer !== undefined) window.clearTimeout(holdTimer);
  const due = pay.nextDue(state.payment);
  if (due !== null) {
    holdTimer = window.setTimeout(() => {
      const prev = state.payment.shown;
      state.payment = pay.advance(state.payment, Date.now());
      afterPaymentChange(prev);
    }, Math.max(0, due - Date.now()));
  }
  if (state.screen === "pay") render();
}

function contactlessSymbol(): HTMLElement {
  // The EMVCo contactless indicator: four arcs of growing radius.
  return h("div", {
    class: "contactless",
    html: `<svg viewBox="0 0 64 64" width="96" height="96" aria-label="contactless"><g fill="none" stroke="currentColor" stroke-width="5" stroke-linecap="round">
<path d="M18 22 a14 14 0 0 1 0 20"/><path d="M27 16 a22 22 0 0 1 0 32"/><path d="M36 10 a30 30 0 0 1 0 44"/><path d="M45 4 a38 38 0 0 1 0 56"/></g></svg>`,
  });
}

function payScreen(s: AppStatus): HTMLElement {
  const shown = state.payment.shown;
  const ph = pay.phase(state.payment);
  const ui = shown?.ui ?? { message: "present_card", status: "ready_to_read", holdMs: 0 };
  const lights = pay.lights(ui.status);
  const result = shown?.result;
  const lines = shown ? pay.headline(shown) : { main: "msg.present_card", sub: null };
  const waiting = ph === "waiting_for_card" || ph === "retry";
  return h(
    "section",
    { id: "pay", "data-phase": ph, "data-message": ui.message, "data-status": result?.status ?? "" },
    h("div", { class: "lights", id: "lights" }, ...lights.map((l, i) => h("span", { class: `light ${l}`, "data-light": i + 1 }))),
    h("div", { class: "amount small" }, money(result?.amountMinor ?? minorUnits(state.entry))),
    waiting && contactlessSymbol(),
    h("h1", { class: `message ${result?.status ?? ""}`, id: "pay-message" }, t(lines.main as Key)),
    lines.sub && h("div", { class: "sub", id: "pay-ui" }, t(lines.sub as Key)),
    result?.authCode && h("div", { id: "auth-code" }, t("pay.authCode", { code: result.authCode })),
    result?.maskedPan && h("div", { class: "muted" }, result.maskedPan),
    result?.status === "accepted_offline" && h("div", { class: "note" }, t("pay.offline")),
    result?.status === "reversed" && h("div", { class: "note" }, t("pay.reversed")),
    result && h("div", { class: "muted small", id: "pay-detail" }, result.detail),
    shown?.error && h("div", { class: "error" }, h("strong", {}, t("pay.failed")), h("div", {}, t(errorKey(shown.error.code))), h("div", { class: "muted" }, shown.error.message)),
    waiting &&
      s.settings.reader === "sim" &&
      h(
        "div",
        { class: "sim" },
        h("label", { for: "virtual-card" }, t("pay.virtualCard")),
        h(
          "select",
          {
            id: "virtual-card",
            onchange: (ev: Event) => saveSettings({ ...s.settings, virtualCard: (ev.target as HTMLSelectElement).value }),
          },
          ...s.virtualCards.map((c) => h("option", { value: c.profile, selected: c.profile === s.settings.virtualCard }, `${c.profile} — ${c.description}`)),
        ),
        h("button", { class: "primary", id: "tap", onclick: () => attempt(() => api.presentCard()) }, t("pay.tapVirtual")),
      ),
    waiting &&
      s.settings.reader !== "sim" &&
      h("div", { class: "muted", id: "hw-hint" }, t("reader.hardwareHint", { reader: s.readers.find((r) => r.id === s.settings.reader)?.label ?? s.settings.reader ?? "" })),
    waiting && h("button", { id: "cancel", onclick: () => attempt(async () => { await api.cancelPayment(); state.payment = pay.initial; go("sale"); }) }, t("pay.cancel")),
    ph === "ended" && h("button", { class: "primary", id: "new-sale", onclick: () => { state.entry = emptyEntry; state.payment = pay.initial; go("sale"); } }, t("pay.newSale")),
    errorBox(),
  );
}

// ---------- QR with the acquirer

async function startQr(amountMinor: number, code: string | null): Promise<void> {
  state.qr = { amountMinor, scanned: code !== null, shown: null, status: null, cancelling: false, cancelRequested: false, result: null, error: null };
  const ok = await attempt(() => api.qrCharge(amountMinor, code));
  if (ok !== undefined || !state.error) go("qr");
  else state.qr = null;
}

function onQrEvent(e: QrPaymentEvent): void {
  const q = state.qr;
  if (!q) return;
  switch (e.kind) {
    case "show":
      q.shown = { orderId: e.order_id, payload: e.payload, svg: e.svg, expiresMs: e.expires_ms };
      break;
    case "status":
      q.status = e.status;
      break;
    case "cancelling":
      q.cancelling = true;
      break;
    case "done":
      q.result = e.result;
      if (state.status?.settings.sounds) play(e.result.outcome === "paid" ? "success" : "alert");
      break;
    case "failed":
      q.error = e.error;
      break;
  }
  if (state.screen === "qr") render();
}

/** The merchant's Cancel: the order is cancelled at the acquirer and the
 * sale's end (cancelled, or reversed if the customer paid meanwhile) still
 * arrives as its `done` event. */
async function cancelQr(): Promise<void> {
  const q = state.qr;
  if (!q || q.cancelRequested) return;
  q.cancelRequested = true;
  render();
  await attempt(() => api.qrCancel());
}

function qrScreen(): HTMLElement {
  const q = state.qr;
  if (!q) return h("section", {});
  const r = q.result;
  const ended = r !== null || q.error !== null;
  const left = q.shown ? Math.max(0, Math.ceil((q.shown.expiresMs - Date.now()) / 1000)) : 0;
  return h(
    "section",
    { id: "qr", class: "center", "data-order-id": q.shown?.orderId ?? "", "data-outcome": r?.outcome ?? (q.error ? "failed" : ""), "data-status": q.status ?? "" },
    h("h1", {}, t("qr.title", { amount: money(q.amountMinor) })),
    !q.shown && !ended && h("p", { class: "muted" }, t(q.scanned ? "qr.charging" : "qr.creating")),
    q.shown && !ended && h("div", { class: "qr", id: "qr-code", html: q.shown.svg }),
    q.shown && !ended && h("div", { id: "qr-countdown" }, t("qr.expires", { seconds: left })),
    q.shown && h("div", { class: "muted small", id: "qr-order" }, t("qr.order", { id: q.shown.orderId })),
    q.status && !ended && h("div", { id: "qr-status" }, t("qr.state", { status: q.status })),
    (q.cancelling || q.cancelRequested) && !ended && h("div", { class: "note", id: "qr-cancelling" }, t(q.cancelRequested ? "qr.cancelRequested" : "qr.cancelling")),
    r && h("h1", { class: `message ${r.outcome === "paid" ? "approved" : "declined"}`, id: "qr-outcome" }, t(`qr.outcome.${r.outcome}` as Key)),
    r?.wallet && r.outcome === "paid" && h("div", {}, t("qr.wallet", { wallet: r.wallet })),
    r?.maskedCode && h("div", { class: "muted" }, r.maskedCode),
    r && h("div", { class: "muted small", id: "qr-detail" }, r.message),
    q.error && h("div", { class: "error", id: "error", role: "alert" }, h("strong", {}, t(errorKey(q.error.code))), h("div", { class: "muted" }, q.error.message)),
    q.shown && !ended && h("code", { class: "payload", id: "qr-payload" }, q.shown.payload),
    !ended && h("button", { id: "qr-cancel", disabled: q.cancelRequested, onclick: () => cancelQr() }, t("qr.cancel")),
    ended && h("button", { class: "primary", id: "qr-back", onclick: () => { state.qr = null; state.entry = emptyEntry; go("sale"); } }, t("qr.done")),
  );
}

// ---------- customer code (keyboard wedge, camera)

let camera: MediaStream | null = null;

async function toggleCamera(): Promise<void> {
  if (camera) {
    camera.getTracks().forEach((tr) => tr.stop());
    camera = null;
    state.cameraOn = false;
    render();
    return;
  }
  try {
    camera = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
    state.cameraOn = true;
    void scanFrames(camera);
  } catch (e) {
    state.error = { code: "usage", message: String(e) };
  }
  render();
}

/** Twice a second, one frame to the shell's QR decoder, until a code reads. */
async function scanFrames(stream: MediaStream): Promise<void> {
  const canvas = document.createElement("canvas");
  while (camera === stream) {
    await new Promise((r) => window.setTimeout(r, 500));
    const video = document.getElementById("camera") as HTMLVideoElement | null;
    if (!video || video.videoWidth === 0) continue;
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    canvas.getContext("2d")?.drawImage(video, 0, 0);
    const blob = await new Promise<Blob | null>((r) => canvas.toBlob(r, "image/png"));
    if (!blob) continue;
    try {
      state.scan.result = await api.scanImage(new Uint8Array(await blob.arrayBuffer()));
      await toggleCamera();
    } catch {
      // No readable code in this frame: try the next one.
    }
  }
}

function scanScreen(): HTMLElement {
  const r = state.scan.result;
  const input = h("input", {
    id: "scan-input",
    autocomplete: "off",
    value: state.scan.text,
    oninput: (ev: Event) => (state.scan.text = (ev.target as HTMLInputElement).value),
    onkeydown: (ev: KeyboardEvent) => {
      // A wedge scanner types the payload and then Enter.
      if (ev.key === "Enter") {
        const text = (ev.target as HTMLInputElement).value;
        state.scan.text = text;
        void attempt(async () => {
          state.scan.result = null;
          state.scan.result = await api.scanCode(text);
        });
      }
    },
  });
  window.setTimeout(() => (document.getElementById("scan-input") as HTMLInputElement | null)?.focus(), 0);
  const video = state.cameraOn ? (h("video", { id: "camera", autoplay: true, playsinline: true, muted: true }) as HTMLVideoElement) : null;
  if (video && camera) video.srcObject = camera;
  return h(
    "section",
    { id: "scan" },
    h("h1", {}, t("scan.title")),
    h("p", { class: "muted" }, t("scan.hint")),
    h("label", { for: "scan-input" }, t("scan.input")),
    input,
    h("button", { id: "camera-button", onclick: toggleCamera }, t("scan.camera")),
    video,
    r &&
      h(
        "div",
        { class: "card", id: "scan-result", "data-kind": r.kind },
        h("strong", {}, t("scan.kind", { kind: t(`scan.kind.${r.kind}` as Key) })),
        h("pre", {}, r.summary),
        // Only a typed or wedge-scanned code can be charged: the camera
        // path gets the code's summary back, never the code itself.
        r.kind !== "merchant" &&
          state.scan.text !== "" &&
          (minorUnits(state.entry) > 0
            ? h("button", { class: "primary", id: "scan-charge", disabled: state.busy, onclick: () => startQr(minorUnits(state.entry), state.scan.text) }, t("scan.charge", { amount: money(minorUnits(state.entry)) }))
            : h("p", { class: "muted" }, t("scan.needAmount"))),
      ),
    h("button", { id: "scan-back", onclick: () => go("sale") }, t("pay.cancel")),
    errorBox(),
  );
}

// ---------- history, receipts, refunds, voids, daily totals

async function loadHistory(): Promise<void> {
  const hv = state.history;
  const rows = await attempt(() => api.history(hv.query));
  if (rows) hv.rows = rows;
  const totals = await attempt(() => api.totals(hv.totalsDate || null));
  if (totals) hv.totals = totals;
  // attempt() drew before its answer was stored here.
  render();
}

function historyScreen(): HTMLElement {
  const hv = state.history;
  const q = hv.query;
  const set = (k: keyof HistoryQuery) => (ev: Event) => {
    const v = (ev.target as HTMLInputElement).value;
    q[k] = v === "" ? null : v;
  };
  const choice = (id: string, k: "status" | "kind", values: string[], prefix: string) =>
    h(
      "select",
      { id, onchange: set(k) },
      h("option", { value: "", selected: !q[k] }, t("history.any")),
      ...values.map((v) => h("option", { value: v, selected: q[k] === v }, t(`${prefix}${v}` as Key))),
    );
  const tot = hv.totals;
  return h(
    "section",
    { id: "history" },
    h("h1", {}, t("history.title")),
    h(
      "div",
      { class: "filters" },
      field("history.from", "h-from", h("input", { id: "h-from", type: "date", value: q.from ?? "", onchange: set("from") })),
      field("history.to", "h-to", h("input", { id: "h-to", type: "date", value: q.to ?? "", onchange: set("to") })),
      field("history.status", "h-status", choice("h-status", "status", ["approved", "declined", "accepted_offline", "reversed", "voided", "refused"], "history.status.")),
      field("history.kind", "h-kind", choice("h-kind", "kind", ["purchase", "refund", "qr"], "history.kind.")),
      field("history.last4", "h-last4", h("input", { id: "h-last4", inputmode: "numeric", maxlength: 4, value: q.last4 ?? "", oninput: set("last4") })),
    ),
    h("button", { class: "primary", id: "h-search", onclick: loadHistory }, t("history.search")),
    errorBox(),
    hv.rows && hv.rows.length === 0 && h("p", { class: "muted", id: "h-empty" }, t("history.empty")),
    hv.rows &&
      h(
        "ul",
        { class: "history", id: "h-list" },
        ...hv.rows.map((r) =>
          h(
            "li",
            { class: `hrow ${r.status}`, "data-tsc": r.tsc ?? "", "data-status": r.status, "data-kind": r.kind, "data-amount": r.amountMinor, onclick: () => openReceipt(r) },
            h("div", { class: "row" }, h("strong", {}, `${r.kind === "refund" ? "−" : ""}${money(r.amountMinor)}`), h("span", {}, t(`history.status.${r.status}` as Key))),
            h(
              "div",
              { class: "row muted small" },
              h("span", {}, `${t(`history.kind.${r.kind}` as Key)} · ${r.payer}`),
              h("span", {}, `#${r.tsc ?? "-"} · ${new Date(r.createdMs).toLocaleString(language())}`),
            ),
            r.refundedMinor > 0 && h("div", { class: "muted small" }, t("history.refunded", { amount: money(r.refundedMinor) })),
          ),
        ),
      ),
    h(
      "div",
      { class: "card", id: "totals" },
      h("h2", {}, t("totals.title")),
      h("label", { for: "t-date" }, t("totals.date")),
      h("input", { id: "t-date", type: "date", value: hv.totalsDate, onchange: (ev: Event) => (hv.totalsDate = (ev.target as HTMLInputElement).value) }),
      h("button", { id: "t-show", onclick: loadHistory }, t("totals.show")),
      tot &&
        h(
          "div",
          { id: "totals-figures", "data-date": tot.date, "data-settled": tot.settledCount, "data-net": tot.netMinor },
          h("div", { class: "row" }, h("span", {}, t("totals.settled", { count: tot.settledCount })), h("span", {}, tot.date)),
          h("div", { class: "row" }, h("span", { class: "muted" }, t("totals.gross")), h("strong", { id: "totals-gross" }, signed(tot.grossMinor))),
          h("div", { class: "row" }, h("span", { class: "muted" }, t("totals.fees")), h("span", {}, signed(tot.feesMinor))),
          h("div", { class: "row" }, h("span", { class: "muted" }, t("totals.net")), h("strong", { id: "totals-net" }, signed(tot.netMinor))),
          tot.pendingCount > 0 && h("div", { class: "note" }, t("totals.pending", { count: tot.pendingCount, amount: money(tot.pendingMinor) })),
          ...tot.groups.map((g) =>
            h(
              "div",
              { class: "muted small" },
              t("totals.group", {
                kind: t(`history.kind.${g.kind}` as Key),
                status: t(`history.status.${g.status}` as Key),
                count: g.count,
                amount: money(g.amountMinor),
              }),
            ),
          ),
        ),
    ),
  );
}

function field(key: Key, id: string, input: HTMLElement): HTMLElement {
  return h("div", {}, h("label", { for: id }, t(key)), input);
}

/** A signed amount in the terminal's currency ("−€5.00"). */
function signed(minor: number): string {
  return minor < 0 ? `−${money(-minor)}` : money(minor);
}

async function openReceipt(row: HistoryRow): Promise<void> {
  if (row.tsc === null) return;
  const left = row.amountMinor - row.refundedMinor;
  state.receipt = { row, view: null, note: null, refundText: formatMinor(left, currency().exponent).replace(/,/g, "") };
  go("receipt");
  const view = await attempt(() => api.receipt(row.tsc as number));
  if (view && state.receipt) state.receipt.view = view;
  render();
}

/** Runs a receipt action; its note replaces the last one. */
async function receiptAction(f: (tsc: number) => Promise<string>): Promise<void> {
  const rc = state.receipt;
  if (!rc || rc.row.tsc === null) return;
  const tsc = rc.row.tsc;
  rc.note = null;
  const note = await attempt(() => f(tsc));
  if (note !== undefined && state.receipt) state.receipt.note = note;
  render();
}

async function refreshRow(tsc: number): Promise<void> {
  const rows = await api.history({ from: null, to: null, status: null, kind: null, last4: null });
  const row = rows.find((r) => r.tsc === tsc);
  if (row && state.receipt) state.receipt.row = row;
}

function receiptScreen(): HTMLElement {
  const rc = state.receipt;
  if (!rc) return h("section", {});
  const r = rc.row;
  const frame = rc.view
    ? h("iframe", { id: "receipt-frame", class: "receipt", sandbox: "", title: t("receipt.title") })
    : null;
  // srcdoc is set as a property: the receipt is a whole HTML document, and
  // the empty sandbox lets it run no script and reach nothing.
  if (frame && rc.view) (frame as HTMLIFrameElement).srcdoc = rc.view.html;
  return h(
    "section",
    { id: "receipt", "data-tsc": r.tsc ?? "", "data-status": r.status, "data-refunded": r.refundedMinor },
    h("h1", {}, `${t("receipt.title")} #${r.tsc ?? "-"}`),
    frame,
    h(
      "div",
      { class: "row wrap" },
      h("button", { id: "receipt-pdf", onclick: () => receiptAction(async (tsc) => t("receipt.saved", { path: (await api.saveReceiptPdf(tsc)).path })) }, t("receipt.pdf")),
      h(
        "button",
        {
          id: "receipt-print",
          onclick: () =>
            receiptAction(async (tsc) => {
              const p = await api.printReceipt(tsc);
              return t("receipt.printed", { bytes: p.bytes, device: p.path });
            }),
        },
        t("receipt.print"),
      ),
    ),
    rc.note && h("div", { class: "note", id: "receipt-note" }, rc.note),
    r.canRefund &&
      h(
        "div",
        { class: "card", id: "refund-box" },
        h("label", { for: "refund-amount" }, `${t("receipt.refundAmount")} (${currency().alpha})`),
        h("input", { id: "refund-amount", inputmode: "decimal", value: rc.refundText, oninput: (ev: Event) => (rc.refundText = (ev.target as HTMLInputElement).value) }),
        h(
          "button",
          {
            id: "refund",
            onclick: () =>
              receiptAction(async (tsc) => {
                const minor = parseMinor(rc.refundText, currency().exponent);
                if (minor === null || minor === 0) throw { code: "invalid_amount", message: rc.refundText } satisfies CommandError;
                const done = await api.refund(tsc, minor);
                await refreshRow(tsc);
                return t("receipt.refundDone", { amount: money(done.amountMinor) });
              }),
          },
          t("receipt.refund"),
        ),
        r.canVoid &&
          h(
            "button",
            {
              id: "void",
              onclick: () =>
                receiptAction(async (tsc) => {
                  await api.voidPayment(tsc);
                  await refreshRow(tsc);
                  return t("receipt.voidDone");
                }),
            },
            t("receipt.void"),
          ),
      ),
    errorBox(),
    h("button", { id: "receipt-back", onclick: () => { state.receipt = null; go("history"); void loadHistory(); } }, t("receipt.back")),
  );
}

function settingsScreen(s: AppStatus): HTMLElement {
  const draft: Settings = { ...s.settings };
  return h(
    "section",
    { id: "settings" },
    h("h1", {}, t("settings.title")),
    h("label", { for: "reader" }, t("settings.reader")),
    readerSelect(s),
    h("label", { for: "language" }, t("settings.language")),
    h(
      "select",
      { id: "language", onchange: (ev: Event) => saveSettings({ ...s.settings, language: (ev.target as HTMLSelectElement).value as Lang }) },
      h("option", { value: "en", selected: s.settings.language === "en" }, "English"),
      h("option", { value: "zh-CN", selected: s.settings.language === "zh-CN" }, "简体中文"),
    ),
    h(
      "label",
      { class: "check" },
      h("input", { type: "checkbox", id: "sounds", checked: s.settings.sounds, onchange: (ev: Event) => saveSettings({ ...s.settings, sounds: (ev.target as HTMLInputElement).checked }) }),
      ` ${t("settings.sounds")}`,
    ),
    h("label", { for: "receipt-header" }, t("settings.receiptHeader")),
    h("textarea", { id: "receipt-header", rows: 3, oninput: (ev: Event) => (draft.receiptHeader = (ev.target as HTMLTextAreaElement).value) }, s.settings.receiptHeader),
    h("label", { for: "printer-device" }, t("settings.printer")),
    h("input", { id: "printer-device", value: s.settings.printerDevice, autocomplete: "off", oninput: (ev: Event) => (draft.printerDevice = (ev.target as HTMLInputElement).value) }),
    h("div", { class: "muted small" }, t("settings.printerHint")),
    printerPicker(s),
    h(
      "button",
      { class: "primary", id: "settings-save", onclick: () => saveSettings({ ...state.status!.settings, receiptHeader: draft.receiptHeader, printerDevice: draft.printerDevice.trim() }) },
      t("settings.save"),
    ),
    state.settingsSaved && h("span", { class: "muted", id: "settings-saved" }, ` ${t("settings.saved")}`),
    errorBox(),
    merchantInfoCard(),
  );
}

// ---------- the acquirer's statement, the merchant's information and its review

/** What the acquirer said, kept beside `state`. */
const acq: {
  period: { from: string; to: string };
  statement: StatementView | null;
  loading: boolean;
  info: MerchantInfo | null;
  confirmed: boolean;
} = { period: { from: today().slice(0, 8) + "01", to: today() }, statement: null, loading: false, info: null, confirmed: false };

async function loadStatement(): Promise<void> {
  acq.loading = true;
  const st = await attempt(() => api.statement(acq.period.from || null, acq.period.to || null));
  acq.loading = false;
  if (st) acq.statement = st;
  render();
}

/** The configuration's copy: no network, so the reminder shows offline. */
async function loadMerchantInfo(): Promise<void> {
  try {
    acq.info = await api.merchantInfo();
  } catch {
    acq.info = null;
  }
  render();
}

/** The reminder, when the review is due within 30 days or overdue;
 * outside Settings it links there. */
function reviewBanner(global: boolean): HTMLElement[] {
  const r = acq.info?.review;
  if (!r || !r.reminder) return [];
  const text = r.overdue ? t("info.overdue", { date: r.due }) : t("info.reminder", { date: r.due, days: r.daysLeft });
  return [
    h(
      "div",
      { class: `banner ${r.overdue ? "blocked" : "offline"}`, id: global ? "review-banner" : "review-reminder", role: "status", "data-days": r.daysLeft },
      h("span", {}, text),
      global && h("button", { class: "link", id: "review-open", onclick: () => go("settings") }, t("info.review")),
    ),
  ];
}

function merchantInfoCard(): Child {
  const m = acq.info;
  if (!m) return null;
  const row = (k: Key, v: string, id: string) => h("div", { class: "row" }, h("span", { class: "muted" }, t(k)), h("strong", { id }, v));
  const cur = m.currency;
  const rate = formatBps(m.feeBps);
  const fees = m.feeFixedMinor > 0 ? t("info.feeFixed", { rate, fixed: formatAmount(m.feeFixedMinor, cur) }) : t("info.feeValue", { rate });
  return h(
    "div",
    { class: "card", id: "merchant-info", "data-due": m.review?.due ?? "" },
    h("h2", {}, t("info.title")),
    ...reviewBanner(false),
    row("info.name", m.merchantName, "info-name"),
    row("info.mcc", m.mccDescription ? `${m.mcc} · ${m.mccDescription}` : m.mcc, "info-mcc"),
    row("info.acquirer", m.acquirerName, "info-acquirer"),
    row("info.account", m.settlementAccountMasked, "info-account"),
    row("info.fees", fees, "info-fees"),
    h("div", { class: "muted small" }, t("info.delay", { days: m.settlementDelayDays })),
    row("info.due", m.review?.due ?? t("info.dueNone"), "info-due"),
    h(
      "button",
      {
        class: m.review?.reminder ? "primary" : "",
        id: "confirm-info",
        disabled: state.busy,
        onclick: async () => {
          acq.confirmed = false;
          const info = await attempt(() => api.confirmMerchantInfo());
          if (info) {
            acq.info = info;
            acq.confirmed = true;
          }
          render();
        },
      },
      t("info.confirm"),
    ),
    acq.confirmed && m.review && h("div", { class: "note", id: "info-confirmed" }, t("info.confirmed", { date: m.review.due })),
    h("div", { class: "muted small" }, t("info.changeHint")),
  );
}

function statementScreen(): HTMLElement {
  const st = acq.statement;
  const p = acq.period;
  const amount = (minor: number) => {
    const cur = st?.currency ?? currency();
    return minor < 0 ? `−${formatAmount(-minor, cur)}` : formatAmount(minor, cur);
  };
  const termKind = (k: string) => {
    const key = `stmt.kind.${k}`;
    return key in dictionaries.en ? t(key as Key) : k;
  };
  const cols: Key[] = ["stmt.col.date", "stmt.col.kind", "stmt.col.mcc", "stmt.col.amount", "stmt.col.rate", "stmt.col.fee", "stmt.col.net", "stmt.col.settles", "stmt.col.terms"];
  return h(
    "section",
    { id: "statement" },
    h("h1", {}, t("stmt.title")),
    h(
      "div",
      { class: "filters" },
      field("stmt.from", "s-from", h("input", { id: "s-from", type: "date", value: p.from, onchange: (ev: Event) => (p.from = (ev.target as HTMLInputElement).value) })),
      field("stmt.to", "s-to", h("input", { id: "s-to", type: "date", value: p.to, onchange: (ev: Event) => (p.to = (ev.target as HTMLInputElement).value) })),
    ),
    h("button", { class: "primary", id: "s-show", disabled: state.busy, onclick: loadStatement }, acq.loading ? t("stmt.loading") : t("stmt.show")),
    errorBox(),
    st &&
      h(
        "div",
        { id: "s-result", "data-from": st.from, "data-to": st.to, "data-count": st.count, "data-net": st.netMinor },
        h("p", { class: "muted" }, t("stmt.merchant", { name: st.merchantName, date: st.generated })),
        h("p", { id: "s-account" }, t("stmt.account", { account: st.settlementAccount })),
        st.lines.length === 0
          ? h("p", { class: "muted", id: "s-empty" }, t("stmt.empty"))
          : h(
              "div",
              { class: "scroll" },
              h(
                "table",
                { class: "statement", id: "s-lines" },
                h("thead", {}, h("tr", {}, ...cols.map((c) => h("th", {}, t(c))))),
                h(
                  "tbody",
                  {},
                  ...st.lines.map((l) =>
                    h(
                      "tr",
                      { "data-kind": l.kind, "data-settled": l.settled ? "1" : "0", "data-terms": l.termsSeq ?? "" },
                      h("td", {}, l.businessDate),
                      h("td", {}, t(`history.kind.${l.kind}` as Key)),
                      h("td", {}, l.mcc),
                      h("td", { class: "num" }, amount(l.amountMinor)),
                      h("td", { class: "num" }, formatBps(l.feeBps)),
                      h("td", { class: "num" }, amount(l.feeMinor)),
                      h("td", { class: "num" }, amount(l.netMinor)),
                      h("td", {}, `${l.settlementDate} (${l.settled ? t("stmt.paid") : t("stmt.expected")})`),
                      h("td", {}, l.termsSeq === null ? "" : `#${l.termsSeq}`),
                    ),
                  ),
                ),
              ),
            ),
        h(
          "div",
          { class: "card", id: "s-totals" },
          h("div", { class: "row" }, h("span", {}, t("stmt.count", { count: st.count })), h("span", {}, `${st.from} – ${st.to}`)),
          h("div", { class: "row" }, h("span", { class: "muted" }, t("totals.gross")), h("strong", { id: "s-gross" }, amount(st.grossMinor))),
          h("div", { class: "row" }, h("span", { class: "muted" }, t("totals.fees")), h("span", { id: "s-fees" }, amount(st.feesMinor))),
          h("div", { class: "row" }, h("span", { class: "muted" }, t("totals.net")), h("strong", { id: "s-net" }, amount(st.netMinor))),
        ),
        st.payouts.length > 0 &&
          h(
            "div",
            { class: "card", id: "s-payouts" },
            h("h2", {}, t("stmt.payouts")),
            ...st.payouts.map((po) =>
              h("div", { class: "row", "data-date": po.settlementDate }, t("stmt.payout", { date: po.settlementDate, amount: amount(po.netMinor), state: po.settled ? t("stmt.paid") : t("stmt.expected") })),
            ),
            h("div", { class: "muted small" }, t("stmt.batches", { count: st.batches })),
          ),
        st.terms.length > 0 &&
          h(
            "div",
            { class: "card", id: "s-terms" },
            h("h2", {}, t("stmt.terms")),
            ...st.terms.map((e) =>
              h(
                "div",
                { class: "small", "data-seq": e.seq },
                t("stmt.term", {
                  seq: e.seq,
                  kind: termKind(e.kind),
                  date: new Date(e.atMs).toISOString().slice(0, 10),
                  rate: e.feeBps === null ? "-" : formatBps(e.feeBps),
                  mcc: e.mcc ?? "-",
                  hash: e.hashPrefix,
                }),
              ),
            ),
            h("div", { class: st.chainVerified ? "muted small" : "error", id: "s-chain", "data-ok": st.chainVerified ? "1" : "0" }, st.chainVerified ? t("stmt.chainOk") : t("stmt.chainBad")),
          ),
      ),
  );
}

// ---------- render

function render(): void {
  const s = state.status;
  document.title = t("app.title");
  if (!s) {
    root.replaceChildren(h("div", { class: "center muted" }, "…"));
    return;
  }
  if (!s.enrollment || state.screen === "enroll") {
    root.replaceChildren(h("header", {}, h("strong", {}, t("app.title"))), enrollScreen(s));
    return;
  }
  const screen = state.screen;
  const body =
    screen === "pay" ? payScreen(s)
    : screen === "qr" ? qrScreen()
    : screen === "scan" ? scanScreen()
    : screen === "history" ? historyScreen()
    : screen === "receipt" ? receiptScreen()
    : screen === "settings" ? settingsScreen(s)
    : screen === "statement" ? statementScreen()
    : saleScreen(s);
  const focused = document.activeElement?.id;
  root.replaceChildren(
    h("header", {}, h("strong", {}, t("app.title")), h("span", { class: "muted", id: "header-merchant" }, ` · ${s.enrollment.merchantName}`)),
    banners(),
    body,
    ...(screen === "sale" || screen === "history" || screen === "settings" || screen === "statement" ? [nav()] : []),
  );
  if (focused) document.getElementById(focused)?.focus();
  root.dataset.ready = screen === "sale" ? "sale" : screen;
}

async function main(): Promise<void> {
  await api.onPayment(onPaymentEvent);
  await api.onQr(onQrEvent);
  await api.onStatus((s) => {
    applyStatus(s);
    render();
  });
  const s = await api.status();
  applyStatus(s);
  state.code = s.prefilledCode ?? "";
  state.screen = s.enrollment ? "sale" : "enroll";
  render();
  if (s.enrollment) void loadMerchantInfo();
  // The QR countdown.
  window.setInterval(() => {
    if (state.screen === "qr") render();
  }, 1000);
}

main().catch((e) => {
  root.textContent = String(e);
});
