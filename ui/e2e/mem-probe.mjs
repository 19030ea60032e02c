// Memory probe for the merchant app (issue 6): starts the app under
// WebKitWebDriver with extra environment variables, enrolls in demo mode,
// then measures the app process (and the WebKit processes it started)
// idle and during a payment, takes WebDriver screenshots, and prints where
// the app's resident memory is, summed by mapping. Used to compare
// rendering settings; the figures of record come from run.mjs.
//
// Usage: node e2e/mem-probe.mjs <softpos-app binary> <label> [VAR=value ...]
// Needs a display (xvfb-run) and WebKitWebDriver, run directly (no
// tauri-driver) on port SOFTPOS_E2E_PORT + 20 (default 4464).
// Prints one JSON line "probe {...}" at the end; screenshots go to
// $PROBE_OUT (default /tmp/mem-probe)/<label>-*.png.

import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { NUDGE_START, NUDGE_STOP } from "./nudge.mjs";
import { byMapping, childrenOf, mapsMesa, nameOf, pidsOf, pssOf, rssOf } from "./procfs.mjs";

const app = resolve(process.argv[2]);
const label = process.argv[3] ?? "default";
const extra = Object.fromEntries(
  process.argv.slice(4).map((kv) => {
    const i = kv.indexOf("=");
    return [kv.slice(0, i), kv.slice(i + 1)];
  }),
);
const out = process.env.PROBE_OUT ?? "/tmp/mem-probe";
mkdirSync(out, { recursive: true });
const PORT = Number(process.env.SOFTPOS_E2E_PORT ?? 4444) + 20;
const W3C_ELEMENT = "element-6066-11e4-a52e-4f735466cecf";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const dataDir = mkdtempSync(join(tmpdir(), "softpos-probe-"));

const driver = spawn("WebKitWebDriver", [`--port=${PORT}`], {
  env: {
    ...process.env,
    ...extra,
    TAURI_WEBVIEW_AUTOMATION: "true",
    SOFTPOS_DATA_DIR: dataDir,
    SOFTPOS_READER: "sim:visa-cvn18",
  },
  stdio: ["ignore", "ignore", "inherit"],
});

async function wd(method, path, body, timeoutMs = 30000) {
  const r = await fetch(`http://127.0.0.1:${PORT}${path}`, {
    method,
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const j = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(j.value ?? j)}`);
  return j.value;
}

let sid = "";
const s = (path) => `/session/${sid}${path}`;
const exec = (script, ...args) => wd("POST", s("/execute/sync"), { script, args });
async function waitFor(css, pred = "true", timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await exec(`const el = document.querySelector(arguments[0]); return !!el && (${pred});`, css);
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${css} ${pred}`);
    await sleep(100);
  }
}
async function click(css) {
  await waitFor(css);
  const el = (await wd("POST", s("/element"), { using: "css selector", value: css }))[W3C_ELEMENT];
  await wd("POST", s(`/element/${el}/click`), {});
}
async function screenshot(name) {
  await sleep(300);
  await exec(NUDGE_START);
  const t0 = Date.now();
  try {
    const b64 = await wd("GET", s("/screenshot"), undefined, 20000);
    writeFileSync(join(out, `${label}-${name}.png`), Buffer.from(b64, "base64"));
    return { ok: true, ms: Date.now() - t0 };
  } catch (e) {
    return { ok: false, error: String(e.message ?? e).slice(0, 120) };
  } finally {
    await exec(NUDGE_STOP).catch(() => {});
  }
}

function appPid() {
  return pidsOf(app)[0] ?? 0;
}
function proc(pid) {
  const r = (x) => Math.round(x * 10) / 10;
  return { pid, name: nameOf(pid), rssMiB: r(rssOf(pid)), anonMiB: r(rssOf(pid, "RssAnon")), pssMiB: r(pssOf(pid)), mesa: mapsMesa(pid) };
}
function memory() {
  const pid = appPid();
  if (!pid) return null;
  const kids = childrenOf(pid).map(proc);
  const a = proc(pid);
  return { app: a, children: kids, totalPssMiB: Math.round(a.pssMiB + kids.reduce((x, k) => x + k.pssMiB, 0)) };
}

const result = { label, env: extra };
try {
  for (let i = 0; ; i++) {
    try {
      await fetch(`http://127.0.0.1:${PORT}/status`);
      break;
    } catch {
      if (i > 100) throw new Error("WebKitWebDriver did not start");
      await sleep(100);
    }
  }
  const v = await wd("POST", "/session", {
    capabilities: { alwaysMatch: { "webkitgtk:browserOptions": { binary: app, args: [] } } },
  });
  sid = v.sessionId;
  await waitFor("#code", "el.value.length > 0");
  await click("#enroll-submit");
  await click("#enroll-continue");
  await waitFor("#app", "el.dataset.ready === 'sale'");
  await sleep(8000);
  result.idle = memory();
  result.idleMappings = byMapping(appPid());
  result.shotIdle = await screenshot("idle");
  for (const d of "2500") await click(`button[data-key="${d}"]`);
  await click("#charge");
  await waitFor("#pay", "el.dataset.phase === 'waiting_for_card'");
  await click("#tap");
  result.duringPayment = memory();
  await waitFor("#pay", "el.dataset.phase === 'ended'");
  result.afterPayment = memory();
  result.shotAfter = await screenshot("after-payment");
  result.afterMappings = byMapping(appPid());
  await wd("DELETE", s(""), undefined, 10000).catch(() => {});
} catch (e) {
  result.error = String(e.message ?? e);
  result.partial = memory();
} finally {
  driver.kill();
  await sleep(500);
  const left = appPid();
  if (left) {
    try {
      process.kill(left);
    } catch {}
  }
  rmSync(dataDir, { recursive: true, force: true });
}
console.log("probe " + JSON.stringify(result));
