// The dashboard, driven in headless Chromium (Debian's) against the real daemon:
//   - a wrong token is refused with the server's words; the token never shows in a URL;
//   - as an operator: a stream started by a test client (npm `ws`, seed 001's protocol)
//     appears within a second with its state, and its bytes grow; a camera started from
//     the page records; an agent (tests/agents/seed000_agent.py) started from the page turns
//     stale when it goes silent (SIGSTOP) and recovers when it speaks again;
//   - stop from the page (with its confirmation); the finished recording plays in the
//     page's player;
//   - as a viewer: no stop button, no start forms, no delete;
//   - as an admin: delete, with its confirmation;
//   - the page survives the stream's loss: it reconnects and re-syncs by itself.
// Screenshots at 1280x800 and 390x844 are saved in the artefacts directory (argv[3]).
// usage: node dashboard.mjs /path/to/recorderd [artefacts directory]

import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, existsSync, statSync, openSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";
import { launchChromium, finish, waitFor as poll } from "./common.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const WebSocket = createRequire(join(here, "..", "socketio", "package.json"))("ws");
const recorderd = process.argv[2];
const work = mkdtempSync(join(tmpdir(), "recorderd-dashboard-"));
const artefacts = resolve(process.argv[3] || join(work, "artefacts"));
mkdirSync(artefacts, { recursive: true });
const logFile = join(work, "recorderd.log");
const readLog = () => (existsSync(logFile) ? readFileSync(logFile, "utf8") : "");
const ctx = { browser: null, daemon: null, work };
const children = [];

function fail(message) {
  console.error(readLog().split("\n").slice(-30).join("\n"));
  throw new Error(message);
}

const waitFor = (what, predicate, ms) => poll(what, predicate, ms, fail);

async function rest(base, token, method, path, body) {
  const res = await fetch(base + path, {
    method, headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = await res.json().catch(() => null);
  if (!res.ok) fail(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

// A seed 001 client over /ws/record: sends the file's bytes as chunks, `every` ms apart.
function streamClient(base, recordId, bytes, { chunk = 8192, every = 150 } = {}) {
  const ws = new WebSocket(base.replace("http", "ws") + "/ws/record");
  const client = { acked: 0, sent: 0, ready: null, error: null, events: [], ws };
  ws.on("message", (m) => {
    const msg = JSON.parse(String(m));
    client.events.push(msg.event);
    if (msg.event === "chunkAck") client.acked++;
    if (msg.event === "recordingReady") client.ready = msg.data;
    if (msg.event === "recordingError" || msg.event === "error" || msg.event === "chunkError") client.error = msg.data;
  });
  client.started = new Promise((res, rej) => {
    ws.on("error", rej);
    ws.on("open", () => {
      ws.send(JSON.stringify({ event: "start", data: { recordId, mimeType: "video/webm" } }));
      const timer = setInterval(() => {
        if (client.sent * chunk >= bytes.length || ws.readyState !== WebSocket.OPEN) return clearInterval(timer);
        const part = bytes.subarray(client.sent * chunk, (client.sent + 1) * chunk);
        ws.send(JSON.stringify({ event: "chunk", data: { recordId, index: client.sent, data: part.toString("base64") } }));
        client.sent++;
      }, every);
      res();
    });
  });
  client.allSent = () => client.sent * chunk >= bytes.length && client.acked === client.sent;
  return client;
}

// The active table's row for a recording, as the page shows it.
function activeRow(page, id) {
  return page.evaluate((id) => {
    const tr = document.querySelector(`#active tbody tr[data-id="${CSS.escape(id)}"]`);
    if (!tr) return null;
    const cells = [...tr.cells].map((c) => c.textContent);
    const stop = tr.querySelector("button.stop");
    return { cells, cls: tr.className, stopVisible: !!stop && !stop.hidden && stop.offsetParent !== null };
  }, id);
}

// Signs in as a person would: signs out first when signed in (the page forgets the token).
async function signIn(page, base, token) {
  if (!page.url().startsWith(base)) await page.goto(`${base}/`, { waitUntil: "load" });
  if (await page.$eval("#sign-out", (b) => !b.hidden)) {
    await page.click("#sign-out");
    if (await page.evaluate(() => sessionStorage.getItem("recorderd.token"))) fail("signing out left the token in sessionStorage");
  }
  await page.waitForSelector("#token", { visible: true });
  await page.type("#token", token);
  await page.click("#sign-in-form button[type=submit]");
}

async function confirmDialog(page) {
  await page.waitForSelector("dialog#confirm[open]", { visible: true });
  await page.click("#confirm-ok");
}

// recorderd on `listen`, its log appended to logFile; resolves to its port.
async function startDaemon(listen) {
  const skip = readLog().length;
  ctx.daemon = spawn(recorderd, ["--data-dir", join(work, "data"), "--listen", listen,
                                 "--set", "limits.stale_seconds=2", "--set", "capture.devices=cam1=test"],
                     { stdio: ["ignore", "ignore", openSync(logFile, "a")] });
  return waitFor("recorderd to listen",
                 () => readLog().slice(skip).match(/msg="recorderd started".* listen=127\.0\.0\.1:(\d+)/)?.[1], 20000);
}

async function main() {
  // Real media for the stream: 4 s of VP8 in WebM, made by GStreamer.
  const clip = join(work, "clip.webm");
  const made = spawnSync("gst-launch-1.0", ["-q", "videotestsrc", "num-buffers=120", "!", "video/x-raw,width=320,height=240,framerate=30/1",
                                           "!", "vp8enc", "deadline=1", "!", "webmmux", "!", "filesink", `location=${clip}`], { encoding: "utf8" });
  if (made.status !== 0) fail(`gst-launch could not make the clip: ${made.stderr}`);
  const clipBytes = readFileSync(clip);

  const port = await startDaemon("127.0.0.1:0");
  const base = `http://127.0.0.1:${port}`;
  const admin = readFileSync(join(work, "data", "admin.token"), "utf8").trim();
  const operator = (await rest(base, admin, "POST", "/api/tokens", { name: "ops desk", role: "operator" })).token;
  const viewer = (await rest(base, admin, "POST", "/api/tokens", { name: "wall screen", role: "viewer" })).token;

  ctx.browser = await launchChromium(work);
  const page = await ctx.browser.newPage();
  await page.setViewport({ width: 1280, height: 800 });
  const pageErrors = [];
  page.on("pageerror", (e) => pageErrors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") pageErrors.push(m.text()); });

  // 1. A wrong token is refused, in the server's words.
  await signIn(page, base, "rec_nobody_notasecret");
  const refused = await waitFor("the refusal", () => page.$eval("#sign-in-error", (e) => e.textContent), 5000);
  if (!/refused/.test(refused) || !/token/.test(refused)) fail(`the refusal does not say why: "${refused}"`);
  if (!(await page.$eval("#board", (e) => e.hidden))) fail("the board shows after a refused token");
  console.log(`wrong token: "${refused}"`);

  // 2. An operator signs in; the token is kept in the tab, never in the URL.
  await signIn(page, base, operator);
  await waitFor("the board", () => page.$eval("#board", (e) => !e.hidden), 5000);
  if (page.url().includes(operator.slice(-10)) || page.url().includes("token")) fail(`the token is in the URL: ${page.url()}`);
  if ((await page.evaluate(() => sessionStorage.getItem("recorderd.token"))) !== operator) fail("the token is not in sessionStorage");
  if ((await page.$eval("#who", (e) => e.textContent)) !== "ops desk (operator)") fail("the page does not say who is signed in");

  // 3. A stream started by a client appears within a second, and its bytes grow.
  const client = streamClient(base, "lecture-1", clipBytes);
  await client.started;
  const t0 = Date.now();
  await waitFor("the stream's row", () => activeRow(page, "lecture-1"), 1000);
  const appeared = Date.now() - t0;
  const first = await waitFor("state recording with bytes", async () => {
    const r = await activeRow(page, "lecture-1");
    return r && r.cells[2] === "recording" && r.cells[5] !== "0 B" && r.cells[5] !== "" ? r : null;
  }, 3000);
  const later = await waitFor("the bytes to grow", async () => {
    const r = await activeRow(page, "lecture-1");
    return r && r.cells[5] !== first.cells[5] ? r : null;
  }, 5000);
  console.log(`stream row appeared ${appeared} ms after its start; bytes ${first.cells[5]} -> ${later.cells[5]}, chunks ${later.cells[6]}`);
  if (!first.stopVisible) fail("an operator sees no stop button");

  // 4. A camera started from the page records.
  await page.waitForFunction(() => document.querySelector("#start-capture select").options.length > 0, { timeout: 5000 });
  await page.click("#start-capture button[type=submit]");
  const cameraId = await waitFor("the camera's recording", () => page.evaluate(() => {
    for (const tr of document.querySelectorAll("#active tbody tr")) if (tr.cells[0].textContent === "capture" && tr.cells[2].textContent === "recording") return tr.dataset.id;
    return null;
  }), 10000);
  await waitFor("its current file", async () => (await activeRow(page, cameraId)).cells[8] !== "", 10000);

  // 5. An agent started from the page turns stale when it goes silent, and recovers.
  const agent = spawn("/usr/bin/python3", [join(here, "..", "agents", "seed000_agent.py"), "--url", `${base.replace("http", "ws")}/ws/agent?agent_id=room-7`,
                                  "--status-interval", "0.5"], { stdio: ["ignore", "pipe", "inherit"] });
  children.push(agent);
  await page.waitForFunction(() => [...document.querySelector("#start-agent select").options].some((o) => o.value === "room-7"), { timeout: 10000 });
  await page.select("#start-agent select", "room-7");
  await page.type("#start-agent input[name=subject]", "Board meeting");
  await page.type("#start-agent input[name=organizer]", "ann@example.com");
  await page.click("#start-agent button[type=submit]");
  const agentId = await waitFor("the agent's recording", () => page.evaluate(() => {
    for (const tr of document.querySelectorAll("#active tbody tr")) if (tr.cells[0].textContent === "agent" && tr.cells[2].textContent === "recording") return tr.dataset.id;
    return null;
  }), 10000);
  agent.kill("SIGSTOP");
  const stale = await waitFor("the agent's row to turn stale", async () => {
    const r = await activeRow(page, agentId);
    return r && r.cells[2] === "stale" && r.cls === "stale" ? r : null;
  }, 8000);
  console.log(`agent silent: row "${stale.cells.slice(0, 3).join(" | ")}", class ${stale.cls}, detail "${stale.cells[8]}"`);
  await waitFor("the stale alert in the alerts list", () => page.$eval("#alerts", (e) => /Stale recording detected/.test(e.textContent)), 3000);
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: join(artefacts, "dashboard-1280x800.png"), fullPage: false });
  agent.kill("SIGCONT");
  await waitFor("the agent's row to recover", async () => (await activeRow(page, agentId))?.cells[2] === "recording", 8000);

  // 6. Stop from the page: the stream leaves the active table and is finished, and it plays.
  await waitFor("the client to send its whole clip", () => client.allSent(), 20000);
  await page.click(`#active tbody tr[data-id="lecture-1"] button.stop`);
  await confirmDialog(page);
  await waitFor("the stream to leave the active table", async () => !(await activeRow(page, "lecture-1")), 10000);
  await waitFor("the client's recordingReady", () => client.ready, 10000);
  const finishedRow = `#finished tbody tr[data-id="lecture-1"]`;
  await page.waitForSelector(finishedRow, { timeout: 5000 });
  const outcome = await page.$eval(finishedRow, (tr) => [...tr.cells].map((c) => c.textContent));
  if (outcome[3] !== "completed" || outcome[4] !== "manual") fail(`the finished row says ${outcome.join(" | ")}`);
  await page.click(`${finishedRow} button.play`);
  const played = await waitFor("the player to play the file", () => page.evaluate(() => {
    const v = document.getElementById("player-video");
    if (v.error) return `error ${v.error.code}`;
    return v.currentTime > 0.5 ? `${v.currentTime.toFixed(2)} s of ${v.duration.toFixed(2)} s, ${v.videoWidth}x${v.videoHeight}` : null;
  }), 10000);
  if (played.startsWith("error")) fail(`the player failed: ${played}`);
  console.log(`finished: ${outcome.join(" | ")}; played ${played}`);

  // 7. recorderd restarts under the page: it says it lost the stream, reconnects and
  // re-syncs by itself. The camera's recording ends with the daemon (reason shutdown); the
  // agent's stays live across the restart and is in the new snapshot.
  const before = await page.evaluate(() => window.dashboardStats.messages);
  ctx.daemon.kill("SIGTERM");
  await new Promise((r) => (ctx.daemon.exitCode !== null ? r() : ctx.daemon.on("exit", r)));
  await waitFor("the page to notice the drop", async () => /reconnecting/.test(await page.$eval("#link", (e) => e.textContent)), 5000);
  await startDaemon(`127.0.0.1:${port}`);
  await waitFor("the page to be live again", async () => (await page.$eval("#link", (e) => e.textContent)) === "live", 20000);
  await waitFor("the agent's recording after the restart", () => activeRow(page, agentId), 5000);
  if (await activeRow(page, cameraId)) fail("the camera's recording is still shown as active after the restart");
  await page.waitForSelector(`#finished tbody tr[data-id="${cameraId}"]`, { timeout: 5000 });
  console.log(`reconnected after a restart of recorderd (${before} messages before)`);

  // 8. A viewer sees the recordings but no stop button, no start forms and no delete.
  await signIn(page, base, viewer);
  await waitFor("the viewer's board", () => page.$eval("#who", (e) => e.textContent === "wall screen (viewer)"), 5000);
  const viewerRow = await waitFor("the agent's row", () => activeRow(page, agentId), 5000);
  if (viewerRow.stopVisible) fail("a viewer sees a stop button");
  if (!(await page.$eval("#start", (e) => e.hidden))) fail("a viewer sees the start forms");
  await page.waitForSelector(finishedRow, { timeout: 5000 });
  if (await page.$(`${finishedRow} button.delete`)) fail("a viewer sees a delete button");
  await page.setViewport({ width: 390, height: 844, isMobile: true });
  await page.waitForFunction(() => window.innerWidth === 390, { timeout: 5000 });
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: join(artefacts, "dashboard-390x844.png"), fullPage: false });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (overflow > 0) fail(`at 390 px the page is ${overflow} px wider than the screen`);
  await page.setViewport({ width: 1280, height: 800 });

  // 9. An admin deletes the finished recording; the delete's notice fails to reach a
  // webhook endpoint that is down, and the admin sees that failure.
  await rest(base, admin, "POST", "/api/webhooks", { name: "down", url: "http://127.0.0.1:9/hook", secret: "whsec_" + Buffer.from("0123456789abcdef0123456789abcdef").toString("base64") });
  await signIn(page, base, admin);
  await page.waitForSelector(`${finishedRow} button.delete`, { timeout: 5000 });
  await page.click(`${finishedRow} button.delete`);
  await confirmDialog(page);
  await waitFor("the deleted recording to leave the list", async () => !(await page.$(finishedRow)), 5000);
  const gone = await rest(base, admin, "GET", "/api/recordings/lecture-1");
  if (gone.state !== "deleted") fail(`after delete the recording is ${gone.state}`);
  const failure = await waitFor("the failed delivery on the page", () => page.$eval("#webhooks", (e) => (/^down: .*failed attempts [1-9]/.test(e.textContent) ? e.textContent : null)), 10000);
  console.log(`admin sees: ${failure.slice(0, 160)}`);

  // Text is readable: every visible text's contrast against its background is at least
  // 4.5:1 (WCAG AA), on the admin's page at 1280x800.
  const lowContrast = await page.evaluate(() => {
    const rgb = (c) => (c.match(/[\d.]+/g) || []).map(Number);
    const lum = ([r, g, b]) => [r, g, b].map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
      .reduce((s, v, i) => s + v * [0.2126, 0.7152, 0.0722][i], 0);
    const background = (el) => {
      for (; el; el = el.parentElement) {
        const c = rgb(getComputedStyle(el).backgroundColor);
        if (c.length === 3 || c[3] > 0) return c.slice(0, 3);
      }
      return [255, 255, 255];
    };
    const bad = [];
    let checked = 0;
    for (const el of document.querySelectorAll("body *")) {
      if (!el.offsetParent || ![...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim())) continue;
      ++checked;
      const a = lum(rgb(getComputedStyle(el).color)), b = lum(background(el));
      const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
      if (ratio < 4.5) bad.push(`${el.tagName}.${el.className} "${el.textContent.trim().slice(0, 30)}" ${ratio.toFixed(2)}`);
    }
    return { bad, checked };
  });
  if (lowContrast.checked < 40) fail(`only ${lowContrast.checked} texts were checked for contrast`);
  if (lowContrast.bad.length) fail(`text below 4.5:1 contrast: ${lowContrast.bad.slice(0, 5).join("; ")}`);
  console.log(`contrast: ${lowContrast.checked} visible texts at 4.5:1 or more`);

  for (const f of ["dashboard-1280x800.png", "dashboard-390x844.png"]) {
    if (statSync(join(artefacts, f)).size < 10000) fail(`${f} is too small to be a screenshot`);
  }
  // Expected: the wrong token's 401 and the reconnects refused while recorderd restarted.
  const errors = pageErrors.filter((e) => !/401|Unauthorized/.test(e) && !/\/ws\/events' failed: .*ERR_CONNECTION_REFUSED/.test(e));
  if (errors.length) fail(`the page logged errors: ${errors.join("; ")}`);
  client.ws.close();
  console.log(`PASS: dashboard (screenshots in ${artefacts})`);
}

let error = null;
try {
  await main();
} catch (e) {
  error = e;
  const pages = ctx.browser ? await ctx.browser.pages().catch(() => []) : [];
  if (pages.length) await pages[pages.length - 1].screenshot({ path: join(artefacts, "dashboard-failure.png") }).catch(() => {});
}
for (const c of children) { c.kill("SIGCONT"); c.kill("SIGTERM"); }
await finish(error, ctx);
