// A repaint for WebDriver screenshots. In WebKitGTK's non-composited mode
// (what the app picks on a machine without a GPU: src-tauri/src/render.rs)
// WebKitWebDriver answers a screenshot only after the page's next paint,
// so a page that is not changing would never be captured. Run NUDGE_START
// before asking for the screenshot and NUDGE_STOP after: a transparent
// pixel toggled every 100 ms gives WebKit something to paint and draws
// nothing.

export const NUDGE_START = `window.__softposNudge = setInterval(() => {
  const d = document.getElementById("__softpos-nudge");
  if (d) { d.remove(); return; }
  const e = document.createElement("div");
  e.id = "__softpos-nudge";
  e.style.cssText = "position:fixed;left:0;top:0;width:1px;height:1px;pointer-events:none";
  document.body.appendChild(e);
}, 100);`;
export const NUDGE_STOP = `clearInterval(window.__softposNudge); document.getElementById("__softpos-nudge")?.remove();`;
