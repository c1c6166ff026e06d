// The dashboard with many active recordings (docs/performance.md, "Dashboard"). N stream
// clients (npm ws on /ws/record) each send a chunk a second, so every live recording
// changes every tick; headless Chromium keeps the dashboard open as an admin. Measured over
// a window, once with a few recordings (the baseline) and once with N, same run:
//   - what the page receives: messages/s and KB/s on /ws/events;
//   - the page's main-thread CPU (CDP Performance.getMetrics: TaskDuration over wall time)
//     and its renders (count, mean ms);
//   - responsiveness: a click on a column header until the table is re-sorted (p50, max),
//     and a new stream's start until its row shows (p50, max);
//   - recorderd's CPU (/proc/<pid>/stat).
// usage: node dashboard_load.mjs /path/to/recorderd [--recordings N] [--baseline B] [--seconds S]

import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, openSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";
import { launchChromium, sleep, waitFor } from "../browser/common.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const WebSocket = createRequire(join(here, "../socketio/package.json"))("ws");
const args = process.argv.slice(2);
const recorderd = args[0];
const opt = (name, def) => { const i = args.indexOf(`--${name}`); return i > 0 ? Number(args[i + 1]) : def; };
const many = opt("recordings", 1000);
const few = opt("baseline", 10);
const seconds = opt("seconds", 20);
const work = mkdtempSync(join(tmpdir(), "recorderd-dashboard-bench-"));
const logFile = join(work, "recorderd.log");
const readLog = () => (existsSync(logFile) ? readFileSync(logFile, "utf8") : "");
const CLK_TCK = 100;
const chunk = Buffer.alloc(2048, 0x5a);

const cpuSeconds = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
};
const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))] : NaN; };

const out = openSync(logFile, "a");
const daemon = spawn(recorderd, ["--data-dir", join(work, "data"), "--listen", "127.0.0.1:0"], { stdio: ["ignore", out, out] });
const streams = [];
let browser = null;

// A stream client: starts `id` and sends a chunk every second (binary frames).
function startStream(base, id) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(base.replace("http", "ws") + "/ws/record");
    const s = { ws, timer: null };
    ws.on("error", reject);
    ws.on("open", () => ws.send(JSON.stringify({ event: "start", data: { recordId: id, mimeType: "video/webm" } })));
    ws.on("message", (m) => {
      if (s.timer) return;
      if (JSON.parse(String(m)).event !== "started") return;
      s.timer = setInterval(() => ws.send(chunk), 1000);
      ws.send(chunk);
      resolve(s);
    });
    streams.push(s);
  });
}

let loads = 0;  // load streams started (probes are not counted)
async function grow(base, to) {
  while (loads < to) {
    const batch = [];
    for (let i = 0; i < 50 && loads < to; ++i) batch.push(startStream(base, `load-${loads++}`));
    await Promise.all(batch);
  }
}

async function measure(page, cdp, base, label) {
  await sleep(2000);  // settle
  const metric = async () => Object.fromEntries((await cdp.send("Performance.getMetrics")).metrics.map((m) => [m.name, m.value]));
  // Left alone first, as a page on a wall is: its CPU with nothing but the feed.
  const idle0 = await metric();
  const idleStart = Date.now();
  await sleep(seconds * 500);
  const idleCpu = ((await metric()).TaskDuration - idle0.TaskDuration) / ((Date.now() - idleStart) / 1000);
  const stats0 = await page.evaluate(() => ({ ...window.dashboardStats }));
  const m0 = await metric();
  const cpu0 = cpuSeconds(daemon.pid);
  const t0 = Date.now();
  // Responsiveness while it runs: sorts by a header click, and new rows.
  const sorts = [];
  const rows = [];
  let n = 0;
  const sortBy = async (key, dir) => {
    const clicked = Date.now();
    await page.click(`#active th[data-sort="${key}"]`);
    await page.waitForFunction((k) => document.querySelector(`#active th[data-sort="${k}"]`).hasAttribute("aria-sort"), { timeout: 5000 }, key);
    sorts.push(Date.now() - clicked);
    const now = await page.$eval(`#active th[data-sort="${key}"]`, (th) => th.getAttribute("aria-sort"));
    if (dir && now !== dir) await sortBy(key, dir);
  };
  while (Date.now() - t0 < seconds * 1000) {
    await sortBy(n % 2 ? "bytes" : "who");
    await sortBy("elapsed", "ascending");  // the newest first: a new row is at the top
    const id = `probe-${label}-${n++}`;
    const started = Date.now();
    const s = await startStream(base, id);
    await page.waitForFunction((i) => !!document.querySelector(`#active tbody tr[data-id="${i}"]`), { timeout: 10000, polling: "raf" }, id);
    rows.push(Date.now() - started);
    clearInterval(s.timer);
    s.ws.send(JSON.stringify({ event: "stop", data: { recordId: id } }));  // not left in grace
    await sleep(500);
    s.ws.close();
  }
  const wall = (Date.now() - t0) / 1000;
  const m1 = await metric();
  const stats1 = await page.evaluate(() => ({ ...window.dashboardStats }));
  const renders = stats1.renders - stats0.renders;
  const r = {
    label,
    active: await page.$eval("#active-count", (e) => Number(e.textContent)),
    msgs: (stats1.messages - stats0.messages) / wall,
    kbps: (stats1.bytes - stats0.bytes) / 1024 / wall,
    idleCpu,
    pageCpu: (m1.TaskDuration - m0.TaskDuration) / wall,
    scriptCpu: (m1.ScriptDuration - m0.ScriptDuration) / wall,
    renders: renders / wall,
    renderMs: renders ? (stats1.renderMs - stats0.renderMs) / renders : 0,
    sortP50: pct(sorts, 0.5), sortMax: Math.max(...sorts),
    rowP50: pct(rows, 0.5), rowMax: Math.max(...rows),
    heapMB: m1.JSHeapUsedSize / 1048576,
    serverCpu: (cpuSeconds(daemon.pid) - cpu0) / wall,
  };
  console.log(`${label.padEnd(9)} active ${String(r.active).padStart(5)}: page gets ${r.msgs.toFixed(2)} msg/s, ${r.kbps.toFixed(1)} KB/s; ` +
              `page CPU left alone ${(100 * r.idleCpu).toFixed(1)} %, while clicked ${(100 * r.pageCpu).toFixed(1)} % (script ${(100 * r.scriptCpu).toFixed(1)} %), ${r.renders.toFixed(2)} renders/s of ` +
              `${r.renderMs.toFixed(1)} ms, JS heap ${r.heapMB.toFixed(1)} MB; sort click p50 ${r.sortP50} ms max ${r.sortMax} ms; ` +
              `new row p50 ${r.rowP50} ms max ${r.rowMax} ms; recorderd CPU ${(100 * r.serverCpu).toFixed(1)} %`);
  return r;
}

let failed = false;
try {
  const port = await waitFor("recorderd to listen", () => readLog().match(/msg="recorderd started".* listen=127\.0\.0\.1:(\d+)/)?.[1], 20000);
  const base = `http://127.0.0.1:${port}`;
  const admin = readFileSync(join(work, "data", "admin.token"), "utf8").trim();
  browser = await launchChromium(work);
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 800 });
  const cdp = await page.createCDPSession();
  await cdp.send("Performance.enable");
  await grow(base, few);
  await page.goto(`${base}/`, { waitUntil: "load" });
  await page.type("#token", admin);
  await page.click("#sign-in-form button[type=submit]");
  await waitFor("the board", () => page.$eval("#board", (e) => !e.hidden), 10000);
  const baseline = await measure(page, cdp, base, "baseline");
  await grow(base, many);
  await waitFor(`${many} rows`, async () => (await page.$eval("#active-count", (e) => Number(e.textContent))) >= many, 60000);
  const loaded = await measure(page, cdp, base, "loaded");
  console.log(`ratio ${many} vs ${few} recordings: page CPU left alone ${(loaded.idleCpu / Math.max(baseline.idleCpu, 1e-9)).toFixed(1)}x, clicked ${(loaded.pageCpu / Math.max(baseline.pageCpu, 1e-9)).toFixed(1)}x, ` +
              `bytes ${(loaded.kbps / Math.max(baseline.kbps, 1e-9)).toFixed(1)}x, sort click p50 ${(loaded.sortP50 / Math.max(baseline.sortP50, 1)).toFixed(1)}x, ` +
              `new row p50 ${(loaded.rowP50 / Math.max(baseline.rowP50, 1)).toFixed(1)}x`);
  if (!(loaded.active >= many)) throw new Error(`the page shows ${loaded.active} active recordings, expected ${many}`);
} catch (e) {
  console.error(`FAIL: ${e.stack || e}`);
  console.error(readLog().split("\n").slice(-15).join("\n"));
  failed = true;
}
for (const s of streams) { clearInterval(s.timer); s.ws.terminate(); }
if (browser) await browser.close().catch(() => {});
daemon.kill("SIGTERM");
await new Promise((r) => (daemon.exitCode !== null ? r() : daemon.on("exit", r)));
rmSync(work, { recursive: true, force: true });
process.exit(failed ? 1 : 0);
