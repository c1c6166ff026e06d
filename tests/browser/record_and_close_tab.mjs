// A real browser records into recorderd and its tab is closed mid-recording; then real
// Chromium output goes through seed 002's dialect and is converted to wav and to mp4:
//   recorderd (the binary) on a free port and a temporary data directory, grace 1 s;
//   Debian's chromium, headless, with a fake camera and microphone, opens the recording
//   page, records with MediaRecorder and streams the chunks to /ws/record;
//   the tab is closed without a stop; the recording must be finalized after the grace
//   period, and its file must decode end to end (GStreamer, explicit VP8/Opus decoders).
// usage: node record_and_close_tab.mjs /path/to/recorderd

import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, existsSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { launchChromium, decodeWebm, finish, waitFor as poll } from "./common.mjs";

const recorderd = process.argv[2];
const work = mkdtempSync(join(tmpdir(), "recorderd-browser-"));
const logFile = join(work, "recorderd.log");
let daemon = null;
let browser = null;
let error = null;

function fail(message) {
  console.error(`FAIL: ${message}`);
  try { console.error(readFileSync(logFile, "utf8").split("\n").slice(-30).join("\n")); } catch {}
  process.exitCode = 1;
  throw new Error(message);
}

const waitFor = (what, predicate, ms) => poll(what, predicate, ms, fail);

const readLog = () => (existsSync(logFile) ? readFileSync(logFile, "utf8") : "");

try {
  const { openSync } = await import("node:fs");
  const out = openSync(logFile, "a");
  daemon = spawn(recorderd, ["--data-dir", join(work, "data"), "--listen", "127.0.0.1:0", "--set", "limits.grace_seconds=1"],
                 { stdio: ["ignore", out, out] });
  const port = await waitFor("recorderd to listen", () => readLog().match(/msg="recorderd started".* listen=127\.0\.0\.1:(\d+)/)?.[1], 20000);
  const base = `http://127.0.0.1:${port}`;
  console.log(`recorderd listens on ${base}`);

  browser = await launchChromium(work);
  const page = await browser.newPage();
  page.on("console", (m) => console.log(`page: ${m.text()}`));
  await page.goto(`${base}/record`, { waitUntil: "load" });
  await page.evaluate(() => window.startRecording());
  const acked = await waitFor("six acknowledged chunks", async () => {
    const s = await page.evaluate(() => ({ acked: window.recorderState.acked, errors: window.recorderState.errors }));
    if (s.errors.length) fail(`the page reported: ${s.errors.join("; ")}`);
    return s.acked >= 6 ? s.acked : 0;
  }, 30000);
  const recordId = await page.evaluate(() => window.recorderState.recordId);
  console.log(`recording ${recordId}: ${acked} chunks acknowledged; closing the tab`);
  await page.close();  // no stop: the tab is gone

  await waitFor("the recording to be finalized after grace",
                () => readLog().includes(`msg="recording.ready" recording="${recordId}"`), 20000);
  const file = join(work, "data", "recordings", recordId, "original.webm");
  if (!existsSync(file)) fail(`no file at ${file}`);
  const size = statSync(file).size;
  console.log(`finalized: ${file}, ${size} bytes`);
  if (size < 10000) fail(`the file is too small (${size} bytes)`);

  const decodeError = decodeWebm(file);
  if (decodeError) fail(`GStreamer could not decode the file: ${decodeError}`);
  console.log("the file decodes end to end (VP8 video and Opus audio)");
  const seekable = join(work, "data", "recordings", recordId, "seekable.webm");
  if (!existsSync(seekable)) fail("no seekable copy was made");
  const seekableError = decodeWebm(seekable);
  if (seekableError) fail(`the seekable copy does not decode: ${seekableError}`);
  console.log("its seekable copy decodes end to end too");

  // Real Chromium output through seed 002's dialect, converted to wav and to mp4.
  for (const format of ["wav", "mp4"]) {
    const tab = await browser.newPage();
    await tab.goto(`${base}/record`, { waitUntil: "load" });
    const ready = await tab.evaluate(async (format, seconds) => {
      const media = await navigator.mediaDevices.getUserMedia({ audio: true, video: format === "mp4" });
      const socket = new WebSocket(`ws://${location.host}/ws/browser-${format}`);
      await new Promise((ok, bad) => { socket.onopen = ok; socket.onerror = bad; });
      const replies = [];
      const done = new Promise((ok) => {
        socket.onmessage = (m) => {
          const msg = JSON.parse(m.data);
          replies.push(msg.type);
          if (msg.type === "recording_ready" || msg.type === "recording_failed" || msg.type === "error") ok(msg);
        };
      });
      socket.send(JSON.stringify({ action: "start", format }));
      const recorder = new MediaRecorder(media, { mimeType: format === "mp4" ? "video/webm;codecs=vp8,opus" : "audio/webm;codecs=opus" });
      let chain = Promise.resolve();
      recorder.ondataavailable = (e) => {
        chain = chain.then(async () => {
          const bytes = new Uint8Array(await e.data.arrayBuffer());
          let binary = "";
          for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
          socket.send(JSON.stringify({ action: "audio_chunk", data: btoa(binary) }));
        });
      };
      const stopped = new Promise((ok) => { recorder.onstop = ok; });
      recorder.start(500);
      await new Promise((ok) => setTimeout(ok, seconds * 1000));
      recorder.stop();
      await stopped;
      await chain;
      media.getTracks().forEach((t) => t.stop());
      socket.send(JSON.stringify({ action: "stop" }));
      const result = await done;
      return { ...result, replies };
    }, format, 4);
    await tab.close();
    if (ready.type !== "recording_ready") fail(`${format}: ${JSON.stringify(ready)}`);
    const reply = await fetch(ready.download_url);
    if (reply.status !== 200) fail(`${format}: GET ${ready.download_url} answered ${reply.status}`);
    const body = Buffer.from(await reply.arrayBuffer());
    const path = join(work, `browser.${format}`);
    (await import("node:fs")).writeFileSync(path, body);
    let seconds = 0;
    if (format === "wav") {
      if (body.subarray(0, 4).toString() !== "RIFF") fail("the wav has no RIFF header");
      seconds = (body.length - 44) / 32000;  // 16 kHz, mono, 16 bit
    } else {
      const info = spawnSync("gst-discoverer-1.0", [path], { encoding: "utf8", timeout: 60000 });
      const m = info.stdout.match(/Duration: (\d+):(\d+):([\d.]+)/);
      if (!m) fail(`mp4: no duration in ${info.stdout}`);
      seconds = Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]);
      if (!/video.*H\.264|H\.264/i.test(info.stdout) || !/AAC|MPEG-4 AAC/i.test(info.stdout)) fail(`mp4: not H.264 + AAC:\n${info.stdout}`);
    }
    console.log(`${format}: ${body.length} bytes, ${seconds.toFixed(2)} s (reported ${ready.duration_seconds.toFixed(2)} s)`);
    if (seconds < 3 || seconds > 5.5) fail(`${format}: ${seconds} s of media for a 4 s recording`);
    if (Math.abs(seconds - ready.duration_seconds) > 0.5) fail(`${format}: reported ${ready.duration_seconds} s, file has ${seconds} s`);
  }
  console.log("1 passed, 0 failed");
} catch (err) {
  error = err;
}
await finish(error, { browser, daemon, work });
