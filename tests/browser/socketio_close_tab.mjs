// Seed 001's browser client, for real: headless Chromium (Debian's) loads a page written the
// way seed 001's frontend is (seed001_page.html: the Socket.IO browser bundle that recorderd
// serves at /socket.io/socket.io.js, io() with default options, MediaRecorder with the fake
// camera and microphone, the seed's beforeunload / pagehide handlers). Two tabs record:
//   tab A is closed the way a person closes it: beforeunload runs, the seed's handler emits
//     stop, the warning dialog is accepted;
//   tab B is torn down without its handlers (a crash, a killed browser): grace, then
//     auto-finalization.
// Both recordings must end ready and their files decode end to end (VP8 and Opus). Before
// them: a page on another site long-polls only when its origin is in socketio.cors_origins,
// and a comma-typed Blob over long-polling gets a chunkError, not a dead socket.
// usage: node socketio_close_tab.mjs /path/to/recorderd

import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, existsSync, statSync, openSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createServer } from "node:http";
import { launchChromium, decodeWebm, finish, waitFor as poll } from "./common.mjs";

const recorderd = process.argv[2];
const work = mkdtempSync(join(tmpdir(), "recorderd-sio-browser-"));
const logFile = join(work, "recorderd.log");
const pageHtml = readFileSync(join(dirname(fileURLToPath(import.meta.url)), "seed001_page.html"), "utf8");
const readLog = () => (existsSync(logFile) ? readFileSync(logFile, "utf8") : "");
let daemon = null;
let browser = null;
let error = null;
const servers = [];

function fail(message) {
  console.error(`FAIL: ${message}`);
  console.error(readLog().split("\n").slice(-30).join("\n"));
  process.exitCode = 1;
  throw new Error(message);
}

const waitFor = (what, predicate, ms) => poll(what, predicate, ms, fail);

async function recordInTab(base) {
  const page = await browser.newPage();
  page.on("console", (m) => { if (!m.text().startsWith("✅")) console.log(`page: ${m.text()}`); });
  // The page is the test's, written into a document of recorderd's origin so that io()
  // finds the server (an intercepted response would have no address, and Chromium's local
  // network access checks then block the WebSocket to loopback).
  await page.goto(`${base}/healthz`, { waitUntil: "load" });
  page.on("response", (r) => { if (r.status() >= 400) console.log(`HTTP ${r.status()} for ${r.request().method()} ${r.url()} (${(r.request().postData() || "").slice(0, 120)})`); });
  await page.setContent(pageHtml, { waitUntil: "load" });
  await waitFor("the socket to connect", () => page.evaluate(() => socket.connected), 10000);
  const recordId = await page.evaluate(() => window.startRecording());
  const acked = await waitFor("eight acknowledged chunks", async () => {
    const s = await page.evaluate(() => ({ acked: window.recorderState.acked, errors: window.recorderState.errors }));
    if (s.errors.length) fail(`the page reported: ${s.errors.join("; ")}`);
    return s.acked >= 8 ? s.acked : 0;
  }, 30000);
  const transport = await page.evaluate(() => socket.io.engine.transport.name);
  if (transport !== "websocket") fail(`the default client did not upgrade to WebSocket (${transport})`);
  console.log(`recording ${recordId}: ${acked} chunks acknowledged over ${transport} (after long-polling)`);
  return { page, recordId };
}

function decodes(file) {
  if (!existsSync(file)) fail(`no file at ${file}`);
  const size = statSync(file).size;
  if (size < 10000) fail(`${file} is too small (${size} bytes)`);
  const error = decodeWebm(file);
  if (error) fail(`GStreamer could not decode ${file}: ${error}`);
  return size;
}

try {
  // A page on another site (another port): it long-polls recorderd only if its origin is
  // in socketio.cors_origins. Served by a plain Node server.
  const site = createServer((req, res) => {
    res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
    res.end("<!doctype html><title>another site</title>");
  });
  await new Promise((r) => site.listen(0, "127.0.0.1", r));
  servers.push(site);
  const sitePort = site.address().port;
  const out = openSync(logFile, "a");
  daemon = spawn(recorderd, ["--data-dir", join(work, "data"), "--listen", "127.0.0.1:0", "--set", "limits.grace_seconds=2",
                             "--set", `socketio.cors_origins=http://127.0.0.1:${sitePort}`],
                 { stdio: ["ignore", out, out] });
  const port = await waitFor("recorderd to listen", () => readLog().match(/msg="recorderd started".* listen=127\.0\.0\.1:(\d+)/)?.[1], 20000);
  const base = `http://127.0.0.1:${port}`;
  browser = await launchChromium(work);

  // Cross-origin long-polling: allowed from http://127.0.0.1:<site>, refused from
  // http://localhost:<site> (another origin, not configured).
  for (const [origin, allowed] of [[`http://127.0.0.1:${sitePort}`, true], [`http://localhost:${sitePort}`, false]]) {
    const page = await browser.newPage();
    await page.goto(`${origin}/`);
    await page.addScriptTag({ url: `${base}/socket.io/socket.io.js` });
    const r = await page.evaluate(async (server, id) => {
      const s = io(server, { transports: ["polling"], reconnection: false });
      const outcome = await new Promise((ok) => { s.on("connect", () => ok("connected")); s.on("connect_error", (e) => ok(`connect_error: ${e.message}`)); });
      if (outcome !== "connected") return { outcome };
      await s.timeout(5000).emitWithAck("start", { recordId: id });
      await s.timeout(5000).emitWithAck("chunk", { recordId: id, index: 0, data: new Uint8Array(2000).fill(1).buffer });
      const ready = await s.timeout(10000).emitWithAck("stop", { recordId: id });
      s.close();
      return { outcome, bytes: ready.bytes };
    }, base, `cors-${allowed}`);
    if (allowed && !(r.outcome === "connected" && r.bytes === 2000)) fail(`a configured origin over long-polling: ${JSON.stringify(r)}`);
    if (!allowed && r.outcome === "connected") fail("an origin not in socketio.cors_origins could long-poll");
    console.log(`long-polling from ${origin}: ${allowed ? `recorded ${r.bytes} bytes` : `refused by the browser (${r.outcome})`}`);
    await page.close();
  }

  // A MediaRecorder Blob over long-polling: socket.io-client sends the part of its data:
  // URL after the first comma, and "video/webm;codecs=vp8,opus" has one, so the bytes are
  // lost in the client. recorderd must say so as a chunkError, keep the socket, and take
  // the same chunk as an ArrayBuffer.
  {
    const page = await browser.newPage();
    await page.goto(`${base}/healthz`);
    await page.addScriptTag({ url: `${base}/socket.io/socket.io.js` });
    const r = await page.evaluate(async () => {
      const s = io({ transports: ["polling"] });
      await new Promise((ok) => s.on("connect", ok));
      await s.timeout(5000).emitWithAck("start", { recordId: "blob-over-polling" });
      const blob = new Blob([new Uint8Array(3000).fill(7)], { type: "video/webm;codecs=vp8,opus" });
      const lost = await s.timeout(5000).emitWithAck("chunk", { recordId: "blob-over-polling", index: 0, data: blob });
      const kept = await s.timeout(5000).emitWithAck("chunk", { recordId: "blob-over-polling", index: 0, data: await blob.arrayBuffer() });
      const connected = s.connected;
      s.close();
      return { lost, kept, connected };
    });
    if (!/not base64.*ArrayBuffer/.test(r.lost.error ?? "")) fail(`a lost Blob: ${JSON.stringify(r.lost)}`);
    if (r.kept.bytes !== 3000 || !r.connected) fail(`the ArrayBuffer after it: ${JSON.stringify(r)}`);
    console.log(`a comma-typed Blob over long-polling: chunkError "${r.lost.error.slice(0, 70)}..."; the ArrayBuffer is stored`);
    await page.close();
  }

  // Tab A: closed by a person; the seed's beforeunload handler emits stop.
  const a = await recordInTab(base);
  a.page.on("dialog", (d) => d.accept());  // "Recording in progress..." - leave anyway
  await a.page.close({ runBeforeUnload: true });
  await waitFor("tab A's recording to be ready", () => readLog().includes(`msg="recording.ready" recording="${a.recordId}"`), 20000);
  const howA = readLog().match(new RegExp(`msg="recording.stopped" recording="${a.recordId}".* reason=(\\w+)`))?.[1];
  console.log(`tab A: stopped with reason ${howA} (manual: the seed's beforeunload stop arrived)`);
  if (howA !== "manual") fail(`tab A's stop from beforeunload did not arrive (reason ${howA})`);

  // Tab B: gone without its handlers; recorderd finalizes after grace.
  const b = await recordInTab(base);
  const session = await b.page.target().createCDPSession();
  const closedAt = Date.now();
  // The renderer dies: no beforeunload, no pagehide. Not awaited: the command's answer
  // never comes from a crashed page.
  session.send("Page.crash").catch(() => {});
  await waitFor("tab B's recording to be finalized after grace",
                () => readLog().includes(`msg="recording.ready" recording="${b.recordId}"`), 30000);
  const howB = readLog().match(new RegExp(`msg="recording.stopped" recording="${b.recordId}".* reason=(\\w+)`))?.[1];
  console.log(`tab B: finalized ${((Date.now() - closedAt) / 1000).toFixed(1)} s after the crash, reason ${howB}`);
  if (howB === "manual") fail("tab B was stopped by its handlers; the crash path was not exercised");

  for (const { recordId } of [a, b]) {
    const size = decodes(join(work, "data", "recordings", recordId, "original.webm"));
    console.log(`${recordId}: ${size} bytes, decodes end to end (VP8 video and Opus audio)`);
  }
  console.log("1 passed, 0 failed");
} catch (err) {
  error = err;
}
for (const server of servers) server.close();
await finish(error, { browser, daemon, work });
