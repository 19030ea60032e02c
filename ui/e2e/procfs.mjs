// What Linux's /proc says about the app's processes, for the e2e figures
// (run.mjs) and the memory comparisons (mem-probe.mjs). Sizes in MiB; a
// process that has gone reads as 0 (or null for the Mesa check).
import { readFileSync, readdirSync, readlinkSync } from "node:fs";

function read(path) {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

/** A "Name:   N kB" field of a /proc file's text, in MiB. */
export function field(text, name) {
  const m = text.match(new RegExp(`${name}:\\s+(\\d+) kB`));
  return m ? Number(m[1]) / 1024 : 0;
}

/** RSS (or another /proc/<pid>/status field) in MiB. */
export function rssOf(pid, name = "VmRSS") {
  return field(read(`/proc/${pid}/status`), name);
}

/** PSS: shared pages split among the processes that map them. */
export function pssOf(pid) {
  return field(read(`/proc/${pid}/smaps_rollup`), "Pss");
}

/** Whether Mesa's driver (and the libLLVM it links) is mapped. */
export function mapsMesa(pid) {
  const maps = read(`/proc/${pid}/maps`);
  return maps ? /_dri\.so|libLLVM/.test(maps) : null;
}

/** The name in /proc/<pid>/status. */
export function nameOf(pid) {
  return (read(`/proc/${pid}/status`).match(/Name:\s+(\S+)/) ?? [])[1];
}

/** The PIDs running the executable `exe`. */
export function pidsOf(exe) {
  const pids = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readlinkSync(`/proc/${d}/exe`) === exe) pids.push(Number(d));
    } catch {}
  }
  return pids;
}

/** Every descendant of `pid`. */
export function childrenOf(pid) {
  const out = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    const stat = read(`/proc/${d}/stat`);
    if (!stat) continue;
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    if (ppid === pid) out.push(Number(d), ...childrenOf(Number(d)));
  }
  return out;
}

/** RSS per mapped file (anonymous mappings together), biggest first. */
export function byMapping(pid, top = 14) {
  const sums = new Map();
  let cur = "";
  for (const line of read(`/proc/${pid}/smaps`).split("\n")) {
    const head = line.match(/^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/);
    if (head) {
      cur = head[1] || "[anon]";
      continue;
    }
    const m = line.match(/^Rss:\s+(\d+) kB/);
    if (m) sums.set(cur, (sums.get(cur) ?? 0) + Number(m[1]));
  }
  return [...sums.entries()]
    .sort((x, y) => y[1] - x[1])
    .slice(0, top)
    .map(([k, v]) => `${(v / 1024).toFixed(1)} ${k.replace(/^.*\//, "")}`);
}
