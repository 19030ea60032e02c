// End-to-end tests driving the real app window through tauri-driver and
// WebKitWebDriver, with plain fetch against the WebDriver HTTP API. The
// app runs in demo mode (embedded acquirer, simulated reader) on a fresh
// data directory. Each test saves a screenshot into docs/screenshots/.
//
// Usage: node e2e/run.mjs <path to softpos-app binary>
// Needs a display (run under xvfb-run) and tauri-driver on PATH or in
// ../.tools/bin.

import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { NUDGE_START, NUDGE_STOP } from "./nudge.mjs";
import { childrenOf, mapsMesa, pidsOf, pssOf, rssOf } from "./procfs.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, "../..");
const app = resolve(process.argv[2] ?? join(repo, "src-tauri/target/debug/softpos-app"));
const shots = join(repo, "docs/screenshots");
const figuresFile = process.env.SOFTPOS_FIGURES ?? join(repo, "ui/e2e/figures.json");
// SOFTPOS_E2E_PORT lets two runs share a machine (each uses PORT, PORT+1,
// PORT+10 and PORT+11).
const PORT = Number(process.env.SOFTPOS_E2E_PORT ?? 4444);
const W3C_ELEMENT = "element-6066-11e4-a52e-4f735466cecf";

mkdirSync(shots, { recursive: true });
const dataDir = mkdtempSync(join(tmpdir(), "softpos-e2e-"));
const driverBin = existsSync(join(repo, ".tools/bin/tauri-driver")) ? join(repo, ".tools/bin/tauri-driver") : "tauri-driver";

const driver = spawn(driverBin, ["--port", String(PORT), "--native-port", String(PORT + 1)], {
  env: { ...process.env, SOFTPOS_DATA_DIR: dataDir, SOFTPOS_READER: "sim:visa-cvn18", SOFTPOS_MOCK_CAMERA: "1" },
  stdio: ["ignore", "inherit", "inherit"],
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function wd(method, path, body, port = PORT) {
  const r = await fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const j = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(j.value ?? j)}`);
  return j.value;
}

async function waitForDriver(port = PORT) {
  for (let i = 0; i < 100; i++) {
    try {
      await fetch(`http://127.0.0.1:${port}/status`);
      return;
    } catch {
      await sleep(100);
    }
  }
  throw new Error("tauri-driver did not start");
}

class Session {
  static async start(port = PORT) {
    const s = new Session();
    s.port = port;
    const v = await wd("POST", "/session", {
      capabilities: { alwaysMatch: { "tauri:options": { application: app } } },
    }, port);
    s.id = v.sessionId;
    return s;
  }
  p(path) {
    return `/session/${this.id}${path}`;
  }
  wd(method, path, body) {
    return wd(method, this.p(path), body, this.port);
  }
  exec(script, ...args) {
    return this.wd("POST", "/execute/sync", { script, args });
  }
  async find(css) {
    const v = await this.wd("POST", "/element", { using: "css selector", value: css });
    return v[W3C_ELEMENT];
  }
  /** Runs `f` on `css`'s element, finding it again if a re-render (a
   * command's busy state ending, say) replaced it in between. */
  async onElement(css, f) {
    for (let i = 0; ; i++) {
      await this.waitFor(css);
      try {
        return await f(await this.find(css));
      } catch (e) {
        if (i >= 5 || !String(e.message).includes("stale element")) throw e;
        await sleep(100);
      }
    }
  }
  async click(css) {
    await this.onElement(css, (el) => this.wd("POST", `/element/${el}/click`, {}));
  }
  async type(css, text) {
    await this.onElement(css, (el) => this.wd("POST", `/element/${el}/value`, { text }));
  }
  async text(css) {
    await this.waitFor(css);
    return this.wd("GET", `/element/${await this.find(css)}/text`);
  }
  /** Waits until `css` matches and, if given, `pred(element)` holds in the page. */
  async waitFor(css, pred = "true", timeoutMs = 15000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const ok = await this.exec(`const el = document.querySelector(arguments[0]); return !!el && (${pred});`, css);
      if (ok) return;
      if (Date.now() > deadline) {
        const html = await this.exec("return document.getElementById('app').innerText");
        throw new Error(`timed out waiting for ${css} ${pred}; page:\n${html}`);
      }
      await sleep(100);
    }
  }
  /** Text in one step: screens that re-render every second (the QR
   * countdown) would make a found element stale before it is read. */
  async textNow(css) {
    await this.waitFor(css);
    return this.exec("return document.querySelector(arguments[0]).innerText", css);
  }
  async select(css, value) {
    await this.waitFor(css);
    await this.exec(
      "const el = document.querySelector(arguments[0]); el.value = arguments[1]; el.dispatchEvent(new Event('change'));",
      css,
      value,
    );
    await this.waitFor(css, `el.value === ${JSON.stringify(value)}`);
  }
  async screenshot(name) {
    // Let WebKit paint the last change before the capture.
    await sleep(300);
    // Something to paint, or WebKit's non-composited mode never answers
    // (see nudge.mjs).
    await this.exec(NUDGE_START);
    try {
      const b64 = await this.wd("GET", "/screenshot");
      writeFileSync(join(shots, `${name}.png`), Buffer.from(b64, "base64"));
    } finally {
      await this.exec(NUDGE_STOP).catch(() => {});
    }
  }
  async close() {
    await this.wd("DELETE", "").catch(() => {});
  }
}

const results = [];
async function test(name, f) {
  const t0 = Date.now();
  try {
    await f();
    results.push({ name, ok: true });
    console.log(`ok   ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    results.push({ name, ok: false });
    console.log(`FAIL ${name}: ${e.message}`);
    // One failure should not take the next tests down with it.
    if (current) await backToSale(current).catch(() => {});
  }
}

let current = null;
/** The demo acquirer's base URL, as the enrolled screen shows it. */
let acquirerUrl = "";

/** From wherever a failed test left the window, back to the sale screen. */
async function backToSale(s) {
  for (const id of ["#new-sale", "#cancel", "#qr-back", "#scan-back", "#receipt-back", "#nav-sale", "#enroll-continue"]) {
    const there = await s.exec("return !!document.querySelector(arguments[0])", id);
    if (there) await s.click(id).catch(() => {});
  }
}

function assert(cond, what) {
  if (!cond) throw new Error(`assertion failed: ${what}`);
}

async function keyIn(s, digits) {
  for (const d of digits) await s.click(`button[data-key="${d}"]`);
}

/** A card payment of `digits` with `card`, ending in `status`. */
async function cardPayment(s, digits, card, status) {
  await s.waitFor("#sale");
  await keyIn(s, digits);
  await s.click("#charge");
  await s.waitFor("#pay", "el.dataset.phase === 'waiting_for_card'");
  await s.select("#virtual-card", card);
  await s.click("#tap");
  if (status) await s.waitFor("#pay", `el.dataset.status === ${JSON.stringify(status)} && el.dataset.phase === 'ended'`);
}

// Memory of the app and the WebKit processes it started, in MiB: RSS
// (counts shared libraries in full), anonymous RSS (its own heap), and PSS
// (shared pages split among the processes that map them).
function appPids() {
  return pidsOf(app);
}
// Seconds since the app process started, from /proc (clock ticks of 10 ms).
function appAgeMs() {
  const [pid] = appPids();
  if (!pid) return null;
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const start = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]);
  const uptime = Number(readFileSync("/proc/uptime", "utf8").split(" ")[0]);
  return Math.round((uptime - start / 100) * 1000);
}
function memory() {
  const [pid] = appPids();
  if (!pid) return null;
  const all = [pid, ...childrenOf(pid)];
  const sum = (f) => Math.round(all.reduce((a, p) => a + f(p), 0));
  return {
    appRssMiB: Math.round(rssOf(pid)),
    appAnonMiB: Math.round(rssOf(pid, "RssAnon")),
    appPssMiB: Math.round(pssOf(pid)),
    withWebKitRssMiB: sum((p) => rssOf(p)),
    withWebKitPssMiB: sum(pssOf),
    // Mesa's driver and the libLLVM it links: about 50 MiB when mapped
    // (src-tauri/src/render.rs keeps them out on a machine without a GPU).
    appMapsMesa: mapsMesa(pid),
  };
}

let failed = false;
try {
  await waitForDriver();
  const s = await Session.start();
  current = s;

  await test("enrollment with the prefilled demo code", async () => {
    await s.waitFor("#enroll");
    await s.waitFor("#code", "el.value.length > 0");
    await s.screenshot("01-enrollment");
    await s.click("#enroll-submit");
    await s.waitFor("#merchant-name");
    assert((await s.text("#merchant-name")) === "Demo Grocery", "merchant name");
    assert((await s.text("#merchant-mcc")) === "5411", "MCC");
    acquirerUrl = await s.text("#merchant-acquirer");
    assert(acquirerUrl.startsWith("http://127.0.0.1:"), "acquirer");
    await s.waitFor("#reader", "el.value === 'sim'");
    await s.screenshot("02-enrolled");
    await s.click("#enroll-continue");
    await s.waitFor("#sale");
  });

  await test("the window cannot call what its capability does not grant", async () => {
    const call = (cmd) =>
      s.wd("POST", "/execute/async", {
        script:
          "const done = arguments[arguments.length - 1]; window.__TAURI_INTERNALS__.invoke(arguments[0], {}).then(() => done('allowed'), (e) => done('refused: ' + e));",
        args: [cmd],
      });
    const closeWindow = await call("plugin:window|close");
    console.log(`     plugin:window|close: ${closeWindow}`);
    assert(closeWindow.startsWith("refused"), `plugin:window|close was ${closeWindow}`);
    // Tampered twin: a granted command goes through the same path.
    assert((await call("get_status")) === "allowed", "get_status allowed");
  });

  await test("card payment approved", async () => {
    await keyIn(s, "2500");
    assert((await s.text("#amount")) === "€25.00", "amount shows €25.00");
    const c0 = Date.now();
    await s.click("#charge");
    await s.waitFor("#pay", "el.dataset.phase === 'waiting_for_card'");
    console.log(`     present card shown after ${Date.now() - c0} ms (first attestation)`);
    await s.waitFor(".contactless");
    await s.waitFor(".light[data-light='1']", "el.classList.contains('on')");
    await s.screenshot("03-present-card");
    await s.select("#virtual-card", "visa-cvn18");
    await s.click("#tap");
    await s.waitFor("#pay", "el.dataset.status === 'approved' && el.dataset.phase === 'ended'");
    assert((await s.text("#pay-message")) === "Approved", "Approved headline");
    assert((await s.text("#auth-code")).startsWith("Auth code"), "auth code shown");
    await s.waitFor(".light[data-light='4']", "el.classList.contains('on')");
    await s.screenshot("04-approved");
    await s.click("#new-sale");
  });

  await test("card payment declined", async () => {
    await cardPayment(s, "1999", "visa-decline", "declined");
    assert((await s.text("#pay-message")) === "Declined", "Declined headline");
    await s.screenshot("05-declined");
    await s.click("#new-sale");
  });

  await test("a card that asks for another interface", async () => {
    await cardPayment(s, "4200", "visa-gpo-6984", "not_completed");
    assert((await s.text("#pay-message")) === "Try another interface", "Try another interface headline");
    assert((await s.text("#pay-ui")) === "Insert, swipe or try another card", "Book A message");
    await s.waitFor(".light[data-light='4']", "el.classList.contains('error')");
    await s.screenshot("14-try-another-interface");
    await s.click("#new-sale");
  });

  await test("card removed too early, then presented again", async () => {
    await cardPayment(s, "700", "visa-removed", null);
    await s.waitFor("#pay", "el.dataset.phase === 'retry' && el.dataset.message === 'present_card_again'");
    await s.screenshot("06-card-removed-try-again");
    await s.select("#virtual-card", "visa-cvn18");
    await s.click("#tap");
    await s.waitFor("#pay", "el.dataset.status === 'approved' && el.dataset.phase === 'ended'");
    await s.click("#new-sale");
  });

  await test("offline payment queued, then synced", async () => {
    await s.waitFor("#sale");
    await s.click("#network-switch");
    await s.waitFor("#network-switch", "!el.checked");
    await cardPayment(s, "1200", "visa-cvn18", "accepted_offline");
    await s.waitFor("#offline-text", "el.textContent.includes('1 payment')");
    await s.screenshot("07-offline-queued");
    await s.click("#new-sale");
    await s.click("#network-switch");
    await s.waitFor("#offline-text", "el.textContent === 'Online'", 20000);
    await s.waitFor("#offline-banner", "!el.textContent.includes('never synced')");
    await s.screenshot("08-synced");
  });

  await test("QR: the acquirer's order shown, paid by the demo customer", async () => {
    await s.waitFor("#sale");
    await keyIn(s, "888");
    await s.click("#qr-button");
    await s.waitFor("#qr-code svg");
    assert((await s.textNow("#qr-payload")).startsWith("000201"), "EMVCo payload");
    await s.waitFor("#qr-countdown", "/\\d+ s/.test(el.textContent)");
    await s.waitFor("#qr", "el.dataset.status === 'NOTPAY'");
    const orderId = await s.exec("return document.getElementById('qr').dataset.orderId");
    assert(orderId.length > 0, "order ID on the screen");
    await s.screenshot("09-qr-merchant");
    // Tampered twin: a code that is no wallet's is refused, the order stays open.
    const bad = await fetch(`${acquirerUrl}/v1/demo/qr/orders/${orderId}/pay`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ code: "not a code" }),
    });
    assert(bad.status === 422, `bad code answered ${bad.status}`);
    const r = await fetch(`${acquirerUrl}/v1/demo/qr/orders/${orderId}/pay`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ code: "280012345678901200" }),
    });
    assert(r.ok, `demo pay answered ${r.status}`);
    await s.waitFor("#qr", "el.dataset.outcome === 'paid'", 20000);
    assert((await s.textNow("#qr-outcome")) === "Paid", "Paid headline");
    await s.screenshot("16-qr-paid");
    await s.click("#qr-back");
  });

  await test("QR: a customer code typed by a wedge scanner, charged by micropay", async () => {
    await s.waitFor("#sale");
    await keyIn(s, "990");
    await s.click("#scan-button");
    await s.type("#scan-input", "not a code\uE007");
    await s.waitFor("#error");
    await s.exec("document.getElementById('scan-input').value = ''");
    await s.type("#scan-input", "134567890123456789\uE007");
    await s.waitFor("#scan-result", "el.dataset.kind === 'wechat_pay'");
    const summary = await s.text("#scan-result");
    assert(!summary.includes("134567890123456789"), "wallet code masked");
    await s.screenshot("10-qr-customer-code");
    await s.click("#scan-charge");
    await s.waitFor("#qr", "el.dataset.outcome === 'paid'", 20000);
    assert(!(await s.textNow("#qr")).includes("134567890123456789"), "wallet code masked after the charge");
    await s.screenshot("17-qr-customer-paid");
    await s.click("#qr-back");
  });

  await test("history: filters, receipt, PDF, print, refund, void, daily totals", async () => {
    await s.click("#nav-history");
    await s.waitFor("#h-list", "el.children.length >= 6");
    const count = (sel) => s.exec("return document.querySelectorAll(arguments[0]).length", sel);
    assert((await count("li.hrow[data-kind='qr'][data-status='approved']")) === 2, "both QR sales recorded");
    assert((await count("li.hrow[data-status='declined']")) === 1, "the declined card recorded");
    await s.waitFor("#totals-figures");
    await s.exec("window.scrollTo(0, 0)");
    await s.screenshot("18-history");
    await s.select("#h-status", "declined");
    await s.click("#h-search");
    await s.waitFor("#h-list", "el.children.length === 1 && el.children[0].dataset.status === 'declined'");
    await s.type("#h-last4", "9999");
    await s.click("#h-search");
    await s.waitFor("#h-empty");
    await s.exec("document.getElementById('h-last4').value = ''; document.getElementById('h-last4').dispatchEvent(new Event('input'))");
    await s.select("#h-status", "");
    await s.click("#h-search");
    await s.waitFor("#h-list", "el.children.length >= 6");
    const first = "li.hrow[data-kind='purchase'][data-status='approved'][data-amount='2500']";
    const tsc = await s.exec("return document.querySelector(arguments[0]).dataset.tsc", first);
    await s.click(first);
    // The frame is sandboxed (no script, its own origin): the page can
    // read what it was given, not what it drew.
    await s.waitFor("#receipt-frame", "el.srcdoc.includes('Demo Grocery') && el.srcdoc.includes('25.00')");
    await s.screenshot("19-receipt");
    await s.click("#receipt-pdf");
    await s.waitFor("#receipt-note", "/receipt-\\d+\\.pdf/.test(el.textContent)");
    const pdfPath = (await s.text("#receipt-note")).replace(/^Saved to /, "");
    assert(readFileSync(pdfPath).subarray(0, 8).toString() === "%PDF-1.4", "a PDF in the data directory");
    await s.click("#receipt-print");
    await s.waitFor("#error", "el.textContent.includes('No printer')");
    await s.exec("const el = document.getElementById('refund-amount'); el.value = '5.00'; el.dispatchEvent(new Event('input'))");
    await s.click("#refund");
    await s.waitFor("#receipt", "el.dataset.refunded === '500'", 20000);
    assert((await s.text("#receipt-note")) === "Refunded €5.00", "refund note");
    await s.screenshot("20-refund");
    await s.click("#receipt-back");
    await s.waitFor("#h-list", "el.querySelector(\"li[data-kind='refund']\")");
    const other = "li.hrow[data-kind='purchase'][data-status='approved'][data-amount='700']";
    await s.click(other);
    await s.click("#void");
    await s.waitFor("#receipt", "el.dataset.status === 'voided'", 20000);
    await s.click("#receipt-back");
    // Settled: 25.00 + 12.00 + 8.88 + 9.90 - 5.00 (refund); the void is out.
    await s.waitFor("#totals-figures", "el.dataset.settled === '5'");
    assert((await s.textNow("#totals-gross")) === "€50.78", "gross after the refund and the void");
    assert((await count("li.hrow[data-status='voided']")) === 1, "the void in the list");
    await s.exec("document.getElementById('totals').scrollIntoView()");
    await s.screenshot("21-daily-totals");
    // A printer: a file standing in for the device receives ESC/POS.
    const printer = join(dataDir, "printer.bin");
    await s.click("#nav-settings");
    await s.type("#printer-device", printer);
    await s.click("#settings-save");
    await s.waitFor("#settings-saved");
    await s.click("#nav-history");
    await s.click(`li.hrow[data-tsc='${tsc}']`);
    await s.click("#receipt-print");
    await s.waitFor("#receipt-note", "el.textContent.startsWith('Sent ')");
    const bytes = readFileSync(printer);
    assert(bytes[0] === 0x1b && bytes[1] === 0x40, "ESC @ first");
    await s.click("#receipt-back");
    await s.click("#nav-sale");
  });

  await test("the acquirer's statement, and the merchant information review", async () => {
    // The demo merchant's information is due for review in two weeks: the
    // reminder shows on every screen until it is confirmed.
    await s.waitFor("#review-banner", "el.dataset.days === '14'");
    await s.click("#nav-statement");
    await s.waitFor("#s-result", "Number(el.dataset.count) >= 5");
    const from = await s.exec("return document.getElementById('s-result').dataset.from");
    assert(from.endsWith("-01"), `this month by default, from ${from}`);
    const line = await s.exec(
      "const r = [...document.querySelectorAll('#s-lines tbody tr')].find((r) => r.dataset.kind === 'purchase' && r.children[3].textContent === '€25.00'); return r ? r.innerText : ''",
    );
    for (const want of ["5411", "1.50 %", "€0.38", "€24.62", "expected", "#1"]) assert(line.includes(want), `${want} in the statement line: ${line}`);
    const refund = await s.exec("const r = document.querySelector(\"#s-lines tr[data-kind='refund']\"); return r ? r.innerText : ''");
    assert(refund.includes("−€5.00"), `the refund is negative: ${refund}`);
    assert((await s.textNow("#s-account")).includes("******************3000"), "settlement account masked");
    await s.waitFor("#s-chain", "el.dataset.ok === '1'");
    await s.waitFor("#s-payouts");
    await s.exec("window.scrollTo(0, 0)");
    await s.screenshot("23-statement");
    // The settlement date and terms columns, scrolled into view on a narrow window.
    await s.exec("document.querySelector('#s-result .scroll').scrollLeft = 10000; document.getElementById('s-account').scrollIntoView()");
    await s.screenshot("24-statement-payouts-terms");
    // An empty period elsewhere.
    await s.exec("const el = document.getElementById('s-from'); el.value = '2020-01-01'; el.dispatchEvent(new Event('change'))");
    await s.exec("const el = document.getElementById('s-to'); el.value = '2020-01-31'; el.dispatchEvent(new Event('change'))");
    await s.click("#s-show");
    await s.waitFor("#s-empty");

    await s.click("#nav-settings");
    await s.waitFor("#merchant-info");
    await s.waitFor("#review-reminder");
    assert((await s.textNow("#info-mcc")).includes("Grocery Stores and Supermarkets"), "MCC described");
    assert((await s.textNow("#info-fees")).includes("1.50 %"), "fee schedule");
    assert((await s.textNow("#info-account")) === "******************3000", "account masked");
    const due = await s.exec("return document.getElementById('merchant-info').dataset.due");
    await s.exec("document.getElementById('merchant-info').scrollIntoView()");
    await s.screenshot("25-merchant-info-review");
    await s.click("#confirm-info");
    await s.waitFor("#info-confirmed");
    await s.waitFor("#merchant-info", `el.dataset.due > ${JSON.stringify(due)} && !document.getElementById('review-reminder')`);
    await s.exec("document.getElementById('merchant-info').scrollIntoView()");
    await s.screenshot("26-merchant-info-confirmed");
    await s.click("#nav-sale");
    await s.waitFor("#sale", "!document.getElementById('review-banner')");
  });

  await test("QR: the merchant cancels a shown code before the customer pays", async () => {
    await s.waitFor("#sale");
    await keyIn(s, "555");
    await s.click("#qr-button");
    await s.waitFor("#qr", "el.dataset.status === 'NOTPAY'");
    const orderId = await s.exec("return document.getElementById('qr').dataset.orderId");
    await s.click("#qr-cancel");
    await s.waitFor("#qr", "el.dataset.outcome === 'cancelled'", 20000);
    assert((await s.textNow("#qr-outcome")) === "Cancelled: nothing was paid", "Cancelled headline");
    // A wallet that pays after the cancel is refused: nothing was taken.
    const late = await fetch(`${acquirerUrl}/v1/demo/qr/orders/${orderId}/pay`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ code: "280012345678901200" }),
    });
    assert(late.status === 409, `late pay answered ${late.status}`);
    await s.screenshot("30-qr-cancelled");
    await s.click("#qr-back");
  });

  await test("QR: a paid QR sale refunded from the history", async () => {
    await s.waitFor("#sale");
    await keyIn(s, "666");
    await s.click("#qr-button");
    await s.waitFor("#qr", "el.dataset.status === 'NOTPAY'");
    const orderId = await s.exec("return document.getElementById('qr').dataset.orderId");
    const r = await fetch(`${acquirerUrl}/v1/demo/qr/orders/${orderId}/pay`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ code: "280012345678901200" }),
    });
    assert(r.ok, `demo pay answered ${r.status}`);
    await s.waitFor("#qr", "el.dataset.outcome === 'paid'", 20000);
    await s.click("#qr-back");
    await s.click("#nav-history");
    const sale = "li.hrow[data-kind='qr'][data-status='approved'][data-amount='666']";
    await s.waitFor(sale);
    await s.click(sale);
    await s.waitFor("#refund-box");
    await s.waitFor("#void");
    // Tampered twin: more than the sale is refused, nothing refunded.
    await s.exec("const el = document.getElementById('refund-amount'); el.value = '6.67'; el.dispatchEvent(new Event('input'))");
    await s.click("#refund");
    await s.waitFor("#error");
    await s.waitFor("#receipt", "el.dataset.refunded === '0'");
    await s.exec("const el = document.getElementById('refund-amount'); el.value = '6.66'; el.dispatchEvent(new Event('input'))");
    await s.click("#refund");
    await s.waitFor("#receipt", "el.dataset.refunded === '666'", 20000);
    assert((await s.text("#receipt-note")) === "Refunded €6.66", "refund note");
    await s.screenshot("31-qr-refund");
    await s.click("#receipt-back");
    await s.waitFor("#h-list", "el.querySelector(\"li[data-kind='refund'][data-amount='666']\")");
    await s.click("#nav-sale");
  });

  await test("camera preview from WebKit's mock capture device", async () => {
    await s.click("#scan-button");
    await s.click("#camera-button");
    await s.waitFor("#camera", "el.readyState >= 2 && el.videoWidth > 0", 10000);
    await s.screenshot("13-camera-preview");
    await s.click("#camera-button");
    await s.click("#scan-back");
  });

  // A real PC/SC stack: pcscd's vpcd reader, with `cardsim-vpcd` putting a
  // virtual card in its field once the payment waits (scripts/app-test.sh
  // starts pcscd, builds cardsim-vpcd and sets these).
  const vpcdBin = process.env.SOFTPOS_VPCD_BIN;
  if (process.env.SOFTPOS_PCSC_TESTS && vpcdBin && existsSync(vpcdBin)) {
    await test("a payment on the PC/SC reader chosen in Settings", async () => {
      const vpcd = "pcsc:Virtual PCD 00 00";
      await s.click("#nav-settings");
      await s.click("#reader-refresh");
      await s.waitFor(`#reader option[value='${vpcd}']`);
      await s.select("#reader", vpcd);
      await s.waitFor("#settings-saved");
      await s.screenshot("27-pcsc-reader");
      await s.click("#nav-sale");
      await keyIn(s, "1250");
      await s.click("#charge");
      await s.waitFor("#pay", "el.dataset.phase === 'waiting_for_card'");
      await s.waitFor("#hw-hint", "el.textContent.includes('Virtual PCD 00 00')");
      assert(!(await s.exec("return !!document.getElementById('tap')")), "no virtual tap button on a hardware reader");
      const card = spawn(vpcdBin, ["visa-cvn18", "--once"], { stdio: ["ignore", "inherit", "inherit"] });
      try {
        await s.waitFor("#pay", "el.dataset.status === 'approved' && el.dataset.phase === 'ended'", 30000);
      } finally {
        card.kill();
      }
      await s.click("#new-sale");
      await s.click("#nav-settings");
      await s.select("#reader", "sim");
      await s.click("#nav-sale");
    });
  } else {
    console.log("skip a payment on the PC/SC reader: set SOFTPOS_PCSC_TESTS and SOFTPOS_VPCD_BIN (scripts/app-test.sh)");
  }

  if (process.env.SOFTPOS_CUPS_TESTS) {
    await test("the system printers are offered in Settings", async () => {
      await s.click("#nav-settings");
      await s.click("#printer-find");
      await s.waitFor("button.printer-use[data-printer='cups:softpos-test']");
      await s.exec("document.getElementById('printer-find').scrollIntoView()");
      await s.screenshot("28-system-printers");
      await s.click("#nav-sale");
    });
  } else {
    console.log("skip the system printers: set SOFTPOS_CUPS_TESTS (scripts/app-test.sh)");
  }

  await test("switching language to Simplified Chinese and back", async () => {
    await s.click("#nav-settings");
    await s.select("#language", "zh-CN");
    await s.waitFor("#nav-sale", "el.textContent === '收款'");
    await s.screenshot("11-settings-zh-CN");
    await s.click("#nav-sale");
    await keyIn(s, "2500");
    await s.waitFor("#charge", "el.textContent.startsWith('收款')");
    await s.screenshot("12-sale-zh-CN");
    await s.click("#nav-history");
    await s.waitFor("#h-list", "el.children.length >= 6");
    await s.waitFor("#totals-figures");
    await s.waitFor("#h-search", "el.textContent === '查询'");
    await s.screenshot("22-history-zh-CN");
    await s.click("#nav-sale");
    await s.click("button[data-key='back']");
    await s.click("button[data-key='back']");
    await s.click("button[data-key='back']");
    await s.click("button[data-key='back']");
    await s.click("#nav-settings");
    await s.select("#language", "en");
    await s.waitFor("#nav-sale", "el.textContent === 'Sale'");
  });

  await test("a refused attestation blocks payments with the reason", async () => {
    const dir = mkdtempSync(join(tmpdir(), "softpos-e2e-refused-"));
    // tauri-driver's WebKitWebDriver listens on --native-port (4445 by default).
    const port = PORT + 10;
    const d2 = spawn(driverBin, ["--port", String(port), "--native-port", String(port + 1)], {
      env: { ...process.env, SOFTPOS_DATA_DIR: dir, SOFTPOS_READER: "sim:visa-cvn18", SOFTPOS_DEMO_REFUSE_ATTESTATION: "1" },
      stdio: ["ignore", "inherit", "inherit"],
    });
    try {
      await waitForDriver(port);
      const b = await Session.start(port);
      await b.waitFor("#code", "el.value.length > 0");
      await b.click("#enroll-submit");
      await b.click("#enroll-continue");
      await keyIn(b, "2500");
      await b.click("#charge");
      await b.waitFor("#attestation-banner");
      await b.waitFor("#error");
      assert((await b.text("#attestation-banner")).includes("Reason:"), "reason shown");
      await b.waitFor("#charge", "el.disabled");
      await b.screenshot("15-attestation-blocked");
      await b.close();
    } finally {
      d2.kill();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // Figures: idle RSS now; then a relaunch of the enrolled app, timed
  // from the WebDriver session request to the sale screen, and RSS
  // during a payment.
  const figures = { idle: memory() };
  await s.close();
  await sleep(1000);
  await test("figures: relaunch to ready-to-tap, memory", async () => {
    const t0 = Date.now();
    const s2 = await Session.start();
    await s2.waitFor("#app", "el.dataset.ready === 'sale'", 20000);
    figures.sessionToSaleMs = Date.now() - t0;
    figures.processStartToSaleMs = appAgeMs();
    await keyIn(s2, "2500");
    await s2.click("#charge");
    await s2.waitFor("#pay", "el.dataset.phase === 'waiting_for_card'");
    figures.readyToTapMs = Date.now() - t0;
    await s2.click("#tap");
    figures.duringPayment = memory();
    await s2.waitFor("#pay", "el.dataset.phase === 'ended'");
    figures.afterPayment = memory();
    await s2.close();
  });
  writeFileSync(figuresFile, JSON.stringify(figures, null, 2) + "\n");
  console.log("figures", JSON.stringify(figures));
} catch (e) {
  console.log(`FAIL setup: ${e.message}`);
  failed = true;
} finally {
  driver.kill();
  rmSync(dataDir, { recursive: true, force: true });
}

const bad = results.filter((r) => !r.ok).length;
console.log(`\ne2e: ${results.length - bad} passed, ${bad} failed`);
process.exit(failed || bad > 0 || results.length === 0 ? 1 : 0);
