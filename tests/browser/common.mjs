// What the browser tests share: how Chromium is launched, how a Chromium WebM is decoded,
// and how a test ends (the browser, then recorderd, then its directory).

import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import puppeteer from "puppeteer-core";

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Polls `predicate` (it may be async) every 50 ms until it returns something truthy, which
// is returned; after `ms` calls `fail` with what was awaited (`fail` throws; by default an
// Error, a test passes its own to print recorderd's log first).
export async function waitFor(what, predicate, ms, fail = (message) => { throw new Error(message); }) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const value = await predicate();
    if (value) return value;
    await sleep(50);
  }
  return fail(`timed out after ${ms} ms waiting for ${what}`);
}

// Debian's chromium, headless, with a fake camera and microphone granted without asking.
export function launchChromium(work) {
  return puppeteer.launch({
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-quic",
           "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
           "--autoplay-policy=no-user-gesture-required"],
    userDataDir: join(work, "chromium"),
  });
}

// Decodes a Chromium WebM (VP8 + Opus) to the end; the error text when it cannot, else null.
// Chrome marks its VP8 track AlphaMode=1, which sends decodebin to the alpha decoder:
// the decoders are built explicitly. gst-launch exits 0 only after EOS with no error.
export function decodeWebm(file) {
  const decoded = spawnSync("gst-launch-1.0", ["-q", "filesrc", `location=${file}`, "!", "matroskademux", "name=d",
                                              "d.video_0", "!", "queue", "!", "vp8dec", "!", "fakesink", "sync=false",
                                              "d.audio_0", "!", "queue", "!", "opusdec", "!", "fakesink", "sync=false"],
                            { encoding: "utf8", timeout: 60000 });
  return decoded.status === 0 ? null : (decoded.stderr || decoded.stdout || `exit ${decoded.status}`);
}

// The end of a test, passed or not: prints a failure, closes the browser, stops recorderd
// (SIGTERM, waiting for it), removes the work directory.
export async function finish(err, { browser, daemon, work }) {
  if (err && !process.exitCode) {
    console.error(`FAIL: ${err.stack || err}`);
    process.exitCode = 1;
  }
  if (browser) await browser.close().catch(() => {});
  if (daemon) {
    daemon.kill("SIGTERM");
    await new Promise((r) => (daemon.exitCode !== null ? r() : daemon.on("exit", r)));
  }
  rmSync(work, { recursive: true, force: true });
}
