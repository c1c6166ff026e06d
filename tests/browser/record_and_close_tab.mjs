// A real browser records into recorderd and its tab is closed mid-recording:
//   recorderd (the binary) on a free port and a temporary data directory, grace 1 s;
//   Debian's chromium, headless, with a fake camera and microphone, opens the recording
//   page, records with MediaRecorder and streams the chunks to /ws/record;
//   the tab is closed without a stop; the recording must be finalized after the grace
//   period, and its file must decode end to end (GStreamer, explicit VP8/Opus decoders).
// usage: node record_and_close_tab.mjs /path/to/recorderd

import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, existsSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import puppeteer from "puppeteer-core";

const recorderd = process.argv[2];
const work = mkdtempSync(join(tmpdir(), "recorderd-browser-"));
const logFile = join(work, "recorderd.log");
const deadline = (ms) => Date.now() + ms;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let daemon = null;
let browser = null;

function fail(message) {
  console.error(`FAIL: ${message}`);
  try { console.error(readFileSync(logFile, "utf8").split("\n").slice(-30).join("\n")); } catch {}
  process.exitCode = 1;
  throw new Error(message);
}

async function waitFor(what, predicate, ms) {
  const until = deadline(ms);
  while (Date.now() < until) {
    const value = await predicate();
    if (value) return value;
    await sleep(100);
  }
  fail(`timed out waiting for ${what}`);
}

const readLog = () => (existsSync(logFile) ? readFileSync(logFile, "utf8") : "");

try {
  const { openSync } = await import("node:fs");
  const out = openSync(logFile, "a");
  daemon = spawn(recorderd, ["--data-dir", join(work, "data"), "--listen", "127.0.0.1:0", "--set", "limits.grace_seconds=1"],
                 { stdio: ["ignore", out, out] });
  const port = await waitFor("recorderd to listen", () => readLog().match(/msg="recorderd started".* listen=127\.0\.0\.1:(\d+)/)?.[1], 20000);
  const base = `http://127.0.0.1:${port}`;
  console.log(`recorderd listens on ${base}`);

  browser = await puppeteer.launch({
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-quic",
           "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
           "--autoplay-policy=no-user-gesture-required"],
    userDataDir: join(work, "chromium"),
  });
  const page = await browser.newPage();
  page.on("console", (m) => console.log(`page: ${m.text()}`));
  await page.goto(`${base}/`, { waitUntil: "load" });
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

  // Chrome marks its VP8 track AlphaMode=1, which sends decodebin to the alpha decoder:
  // build the decoders explicitly. gst-launch exits 0 only after EOS with no error.
  const pipeline = ["-q", "filesrc", `location=${file}`, "!", "matroskademux", "name=d",
                    "d.video_0", "!", "queue", "!", "vp8dec", "!", "fakesink", "sync=false",
                    "d.audio_0", "!", "queue", "!", "opusdec", "!", "fakesink", "sync=false"];
  const decoded = spawnSync("gst-launch-1.0", pipeline, { encoding: "utf8", timeout: 60000 });
  if (decoded.status !== 0) fail(`GStreamer could not decode the file: ${decoded.stderr || decoded.stdout}`);
  console.log("the file decodes end to end (VP8 video and Opus audio)");
  console.log("1 passed, 0 failed");
} catch (err) {
  if (!process.exitCode) {
    console.error(`FAIL: ${err.stack || err}`);
    process.exitCode = 1;
  }
} finally {
  if (browser) await browser.close().catch(() => {});
  if (daemon) {
    daemon.kill("SIGTERM");
    await new Promise((r) => (daemon.exitCode !== null ? r() : daemon.on("exit", r)));
  }
  rmSync(work, { recursive: true, force: true });
}
