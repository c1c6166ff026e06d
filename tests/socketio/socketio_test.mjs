// Seed 001's real client against recorderd's /socket.io/: socket.io-client 4.8 (npm),
// unchanged, in Node, plus raw Engine.IO requests for what a well-behaved client never sends.
//   recorderd (the binary) on a free port and a temporary data directory, grace 3 s,
//   Engine.IO pings every second; a second one with auth.ingest = token.
// Every scenario asserts what reached the disk: the finished file is compared byte for byte
// with what the client sent.
// usage: node socketio_test.mjs /path/to/recorderd

import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, existsSync, openSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { io } from "socket.io-client";

const recorderd = process.argv[2];
const work = mkdtempSync(join(tmpdir(), "recorderd-socketio-"));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const daemons = [];
let passed = 0;

function fail(message) {
  for (const d of daemons) {
    try { console.error(`--- ${d.log}\n` + readFileSync(d.log, "utf8").split("\n").slice(-25).join("\n")); } catch {}
  }
  throw new Error(message);
}
function check(cond, message) { if (!cond) fail(message); }

async function waitFor(what, predicate, ms = 15000) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const value = await predicate();
    if (value) return value;
    await sleep(50);
  }
  fail(`timed out after ${ms} ms waiting for ${what}`);
}

async function startDaemon(name, extra) {
  const dir = join(work, name);
  const log = join(dir + ".log");
  const out = openSync(log, "a");
  const proc = spawn(recorderd, ["--data-dir", dir, "--listen", "127.0.0.1:0", "--set", "limits.grace_seconds=3",
                                 "--set", "socketio.ping_interval_ms=1000", "--set", "socketio.ping_timeout_ms=1000",
                                 ...extra], { stdio: ["ignore", out, out] });
  const d = { proc, dir, log, readLog: () => (existsSync(log) ? readFileSync(log, "utf8") : "") };
  daemons.push(d);
  d.port = await waitFor(`${name} to listen`, () => d.readLog().match(/msg="recorderd started".* listen=127\.0\.0\.1:(\d+)/)?.[1], 20000);
  d.base = `http://127.0.0.1:${d.port}`;
  return d;
}

// A client that records every event it receives, in order.
function client(d, options = {}) {
  const socket = io(d.base, { reconnectionDelay: 200, reconnectionDelayMax: 400, ...options });
  const seen = [];
  socket.onAny((event, data) => seen.push({ event, data }));
  socket.on("connect_error", (e) => seen.push({ event: "connect_error", data: e }));
  return { socket, seen, events: (name) => seen.filter((e) => e.event === name).map((e) => e.data) };
}

const connected = (c) => waitFor("the client to connect", () => c.socket.connected);
const emitWithAck = (c, event, data) => c.socket.timeout(10000).emitWithAck(event, data);

async function download(url) {
  const r = await fetch(url);
  check(r.ok, `GET ${url}: ${r.status}`);
  return Buffer.from(await r.arrayBuffer());
}

// Sends `chunks` (Buffers) by index, as binary attachments or base64, each awaited by its ack.
async function sendChunks(c, recordId, chunks, { from = 0, base64 = false } = {}) {
  for (let i = from; i < chunks.length; i++) {
    const data = base64 ? chunks[i].toString("base64") : chunks[i];
    const ack = await emitWithAck(c, "chunk", { recordId, index: i, data });
    check(ack.index === i && ack.bytes === chunks[i].length, `chunk ${i} of ${recordId}: ack ${JSON.stringify(ack)}`);
  }
}

async function scenario(name, body) {
  const t0 = Date.now();
  await body();
  passed++;
  console.log(`ok ${passed} - ${name} (${Date.now() - t0} ms)`);
}

const chunksOf = (n, size) => Array.from({ length: n }, () => randomBytes(size));
const logHas = (d, text) => d.readLog().includes(text);
// The finished file of a recording started without a mimeType: original.bin.
const original = (d, id) => readFileSync(join(d.dir, "recordings", id, "original.bin"));

try {
  const d = await startDaemon("open", []);
  console.log(`recorderd listens on ${d.base}`);

  await scenario("default options: long-polling, then the upgrade to WebSocket; binary chunks; stop answers ready", async () => {
    const c = client(d);
    let opened = null;
    const upgraded = new Promise((r) => c.socket.io.on("open", () => {
      opened = c.socket.io.engine.transport.name;
      c.socket.io.engine.on("upgrade", r);
    }));
    await connected(c);
    check(opened === "polling", `the default client opens on long-polling (${opened})`);
    const chunks = chunksOf(12, 48 * 1024);
    const started = await emitWithAck(c, "start", { recordId: "sio-default", mimeType: "video/webm" });
    check(started.recordId === "sio-default" && started.resumed === false && started.nextIndex === 0,
          `start's acknowledgement: ${JSON.stringify(started)}`);
    check(c.events("started").length === 1, "the started event is emitted too");
    await sendChunks(c, "sio-default", chunks.slice(0, 2));  // on polling or during the upgrade
    await upgraded;
    check(c.socket.io.engine.transport.name === "websocket", "upgraded to WebSocket");
    await sendChunks(c, "sio-default", chunks, { from: 2 });
    check(c.events("chunkAck").length === 12, `12 chunkAck events (got ${c.events("chunkAck").length})`);
    const ready = await emitWithAck(c, "stop", { recordId: "sio-default" });
    check(ready.recordId === "sio-default" && ready.bytes === 12 * 48 * 1024, `stop's acknowledgement: ${JSON.stringify(ready)}`);
    await waitFor("finished", () => c.events("finished").length === 1);
    check(c.events("recordingReady").length === 1, "recordingReady emitted once");
    const file = await download(ready.downloadUrl);
    check(file.equals(Buffer.concat(chunks)), "the downloaded file is the chunks, byte for byte");
    c.socket.close();
  });

  await scenario("transports: ['websocket'] directly; base64 chunks", async () => {
    const c = client(d, { transports: ["websocket"] });
    await connected(c);
    check(c.socket.io.engine.transport.name === "websocket", "on WebSocket from the start");
    const chunks = chunksOf(5, 100 * 1024);
    await emitWithAck(c, "start", { recordId: "sio-ws" });
    await sendChunks(c, "sio-ws", chunks, { base64: true });
    const ready = await emitWithAck(c, "stop", { recordId: "sio-ws" });
    check((await download(ready.downloadUrl)).equals(Buffer.concat(chunks)), "the file is the base64 chunks' bytes");
    c.socket.close();
  });

  await scenario("long-polling only: binary attachments travel as base64 in the POSTs; chunks larger than 1 MB", async () => {
    const c = client(d, { transports: ["polling"] });
    await connected(c);
    const chunks = chunksOf(3, 1536 * 1024);
    await emitWithAck(c, "start", { recordId: "sio-poll" });
    await sendChunks(c, "sio-poll", chunks);
    check(c.socket.io.engine.transport.name === "polling", "still on polling");
    const ready = await emitWithAck(c, "stop", { recordId: "sio-poll" });
    check((await download(ready.downloadUrl)).equals(Buffer.concat(chunks)), "the file is the chunks, byte for byte");
    c.socket.close();
  });

  await scenario("seed 001 test 2: the client goes away mid-recording without stop; finalized after grace", async () => {
    const c = client(d, { reconnection: false });
    await connected(c);
    const chunks = chunksOf(4, 32 * 1024);
    await emitWithAck(c, "start", { recordId: "sio-closed" });
    await sendChunks(c, "sio-closed", chunks);
    c.socket.io.engine.close();  // the tab is gone: no stop, no DISCONNECT packet
    const closedAt = Date.now();
    await waitFor("auto-finalization", () => logHas(d, 'msg="recording.ready" recording="sio-closed"'), 15000);
    check(Date.now() - closedAt >= 2500, "not finalized before the 3 s grace");
    const file = original(d, "sio-closed");
    check(file.equals(Buffer.concat(chunks)), "the finalized file is every acknowledged chunk");
  });

  await scenario("seed 001 test 3: the network drops and comes back within grace; start resumes on the new socket", async () => {
    const c = client(d);
    await connected(c);
    const chunks = chunksOf(8, 16 * 1024);
    await emitWithAck(c, "start", { recordId: "sio-resume" });
    await sendChunks(c, "sio-resume", chunks.slice(0, 4));
    const firstId = c.socket.id;
    c.socket.io.engine.close();  // the transport dies; the client reconnects by itself (200 ms)
    await waitFor("the reconnection", () => c.socket.connected && c.socket.id !== firstId);
    const resumed = await emitWithAck(c, "start", { recordId: "sio-resume" });
    check(resumed.resumed === true && resumed.nextIndex === 4 && resumed.missingChunks.length === 0,
          `resume: ${JSON.stringify(resumed)}`);
    await sendChunks(c, "sio-resume", chunks, { from: 4 });
    const ready = await emitWithAck(c, "stop", { recordId: "sio-resume" });
    check((await download(ready.downloadUrl)).equals(Buffer.concat(chunks)), "one file from both sockets, in order");
    c.socket.close();
  });

  await scenario("seed 001 test 4: missing chunks are named in recordingError; what arrived is kept", async () => {
    const c = client(d);
    await connected(c);
    const chunks = chunksOf(5, 8 * 1024);
    await emitWithAck(c, "start", { recordId: "sio-gap" });
    for (const i of [0, 1, 3, 4]) {
      const ack = await emitWithAck(c, "chunk", { recordId: "sio-gap", index: i, data: chunks[i] });
      check(ack.index === i, `ack for ${i}`);
    }
    const answer = await emitWithAck(c, "stop", { recordId: "sio-gap" });
    check(JSON.stringify(answer.missingChunks) === "[2]" && answer.totalExpected === 5, `recordingError: ${JSON.stringify(answer)}`);
    check(c.events("recordingError").length === 1 && c.events("finished").length === 1, "recordingError, then finished");
    c.socket.close();
  });

  await scenario("a slow network: the client's own reconnectionDelay outlasts grace; the recording is finalized", async () => {
    const c = client(d, { reconnectionDelay: 6000, reconnectionDelayMax: 6000, randomizationFactor: 0 });
    await connected(c);
    const chunks = chunksOf(3, 16 * 1024);
    await emitWithAck(c, "start", { recordId: "sio-slow" });
    await sendChunks(c, "sio-slow", chunks);
    const firstId = c.socket.id;
    c.socket.io.engine.close();
    await waitFor("finalization while the client waits", () => logHas(d, 'msg="recording.ready" recording="sio-slow"'), 10000);
    check(!c.socket.connected, "the client had not reconnected yet");
    await waitFor("the late reconnection", () => c.socket.connected && c.socket.id !== firstId, 15000);
    const late = await emitWithAck(c, "start", { recordId: "sio-slow" });
    check(/already ended/.test(late.message ?? ""), `a late start is told the recording ended: ${JSON.stringify(late)}`);
    const file = original(d, "sio-slow");
    check(file.equals(Buffer.concat(chunks)), "the finalized file is every acknowledged chunk");
    c.socket.close();
  });

  await scenario("errors: unknown events, a missing recordId, a chunk for no recording; the socket stays usable", async () => {
    const c = client(d, { transports: ["websocket"] });
    await connected(c);
    const unknown = await emitWithAck(c, "pause", { recordId: "x" });
    check(/Unknown event 'pause'/.test(unknown.message), `unknown event: ${JSON.stringify(unknown)}`);
    const noId = await emitWithAck(c, "start", {});
    check(/recordId/.test(noId.message), `no recordId: ${JSON.stringify(noId)}`);
    const orphan = await emitWithAck(c, "chunk", { recordId: "never-started", index: 0, data: Buffer.from("x") });
    check(orphan.recordId === "never-started" && typeof orphan.error === "string", `chunkError: ${JSON.stringify(orphan)}`);
    check(c.events("chunkError").length === 1, "chunkError emitted");
    const started = await emitWithAck(c, "start", { recordId: "sio-after-errors" });
    check(started.nextIndex === 0, "still usable");
    await emitWithAck(c, "stop", { recordId: "sio-after-errors" });
    c.socket.close();
  });

  // ---- Engine.IO and Socket.IO as the wire carries them ----------------------------------
  const eio = (q, init) => fetch(`${d.base}/socket.io/?${q}`, init);
  const handshake = async () => {
    const r = await eio("EIO=4&transport=polling");
    const body = await r.text();
    check(r.status === 200 && body.startsWith("0{"), `handshake: ${r.status} ${body}`);
    const open = JSON.parse(body.slice(1));
    check(open.upgrades[0] === "websocket" && open.pingInterval === 1000 && open.pingTimeout === 1000 && open.maxPayload > 16e6,
          `open packet: ${body}`);
    return open.sid;
  };

  await scenario("Engine.IO errors as engine.io words them: version, transport, sid, method", async () => {
    const expect = async (q, init, status, code) => {
      const r = await eio(q, init);
      const body = await r.json();
      check(r.status === status && body.code === code, `${q}: ${r.status} ${JSON.stringify(body)}`);
    };
    await expect("EIO=3&transport=polling", {}, 400, 5);
    await expect("EIO=4&transport=carrier-pigeon", {}, 400, 0);
    await expect("EIO=4&transport=polling&sid=nope", {}, 400, 1);
    await expect("EIO=4&transport=polling", { method: "POST", body: "40" }, 400, 2);
  });

  await scenario("one long-poll per session: a second GET is refused and ends the session", async () => {
    const sid = await handshake();
    const first = eio(`EIO=4&transport=polling&sid=${sid}`);
    await sleep(100);
    const second = await eio(`EIO=4&transport=polling&sid=${sid}`);
    check(second.status === 400, `the second GET: ${second.status}`);
    check((await (await first).text()) === "1", "the held GET is answered with the close packet");
    const after = await eio(`EIO=4&transport=polling&sid=${sid}`);
    check(after.status === 400 && (await after.json()).code === 1, "the session is gone");
  });

  await scenario("a malformed Socket.IO packet closes the session; a POST over maxPayload is 413", async () => {
    let sid = await handshake();
    let post = await eio(`EIO=4&transport=polling&sid=${sid}`, { method: "POST", body: "40" });
    check((await post.text()) === "ok", "CONNECT posted");
    post = await eio(`EIO=4&transport=polling&sid=${sid}`, { method: "POST", body: '42["chunk",{"recordId":' });
    check(post.status === 200, `the POST itself is answered: ${post.status}`);
    let after = await eio(`EIO=4&transport=polling&sid=${sid}`);
    check(after.status === 400 && (await after.json()).code === 1, "the session is closed after a malformed packet");
    sid = await handshake();
    post = await eio(`EIO=4&transport=polling&sid=${sid}`, { method: "POST", body: "4" + "x".repeat(23 * 1024 * 1024) });
    check(post.status === 413, `an oversized POST: ${post.status}`);
    after = await eio(`EIO=4&transport=polling&sid=${sid}`);
    check(after.status === 400, "the session is closed after an oversized POST");
  });

  await scenario("a session that stops answering pings expires; its recording enters grace and is finalized", async () => {
    const sid = await handshake();
    const post = (body) => eio(`EIO=4&transport=polling&sid=${sid}`, { method: "POST", body });
    await post("40");
    let got = await (await eio(`EIO=4&transport=polling&sid=${sid}`)).text();
    check(got.startsWith('40{"sid":'), `CONNECT answered: ${got}`);
    await post('42["start",{"recordId":"sio-silent"}]');
    got = await (await eio(`EIO=4&transport=polling&sid=${sid}`)).text();
    check(got.includes('"started"'), `started: ${got}`);
    // From here on: no pong. The GETs below only watch (one carries the ping); with no pong
    // within 1 s of it the session ends, and the next GET is 400.
    await waitFor("the session to expire", async () => (await eio(`EIO=4&transport=polling&sid=${sid}`)).status === 400, 6000);
    await waitFor("the recording to be finalized after grace", () => logHas(d, 'msg="recording.ready" recording="sio-silent"'), 10000);
  });

  await scenario("unknown namespaces get CONNECT_ERROR; events before CONNECT close the session", async () => {
    const c = client(d, { reconnection: false });
    const admin = io(`${d.base}/admin`, { reconnection: false, transports: ["websocket"] });
    const error = await new Promise((r) => admin.on("connect_error", r));
    check(error.message === "Invalid namespace", `CONNECT_ERROR: ${error.message}`);
    admin.close();
    c.socket.close();
    const sid = await handshake();
    await eio(`EIO=4&transport=polling&sid=${sid}`, { method: "POST", body: '42["start",{"recordId":"x"}]' });
    const after = await eio(`EIO=4&transport=polling&sid=${sid}`);
    check(after.status === 400, "an event before CONNECT ends the session");
  });

  // ---- auth.ingest = token: the token goes in CONNECT's auth payload ----------------------
  const t = await startDaemon("token", ["--set", "auth.ingest=token"]);
  await scenario("auth.ingest = token: no token is refused with CONNECT_ERROR; auth.token connects", async () => {
    const token = readFileSync(join(t.dir, "admin.token"), "utf8").trim();
    const refused = client(t, { reconnection: false });
    await waitFor("CONNECT_ERROR", () => refused.events("connect_error").length > 0);
    check(/token/i.test(refused.events("connect_error")[0].message), `refusal: ${refused.events("connect_error")[0].message}`);
    refused.socket.close();
    const wrong = client(t, { reconnection: false, auth: { token: "rcd_wrong" } });
    await waitFor("CONNECT_ERROR for a wrong token", () => wrong.events("connect_error").length > 0);
    wrong.socket.close();
    const c = client(t, { auth: { token } });
    await connected(c);
    const started = await emitWithAck(c, "start", { recordId: "sio-token" });
    check(started.recordId === "sio-token", `started with a token: ${JSON.stringify(started)}`);
    await sendChunks(c, "sio-token", chunksOf(2, 1024));
    const ready = await emitWithAck(c, "stop", { recordId: "sio-token" });
    check(ready.bytes === 2048, "recorded with a token");
    c.socket.close();
  });

  console.log(`all ${passed} scenarios passed`);
} catch (e) {
  console.error(`FAIL: ${e.message}`);
  process.exitCode = 1;
} finally {
  // Each recorderd must stop cleanly: exit 0, and no sanitizer report (the ASan build).
  for (const d of daemons) {
    const exited = new Promise((r) => (d.proc.exitCode !== null ? r() : d.proc.on("exit", r)));
    d.proc.kill("SIGTERM");
    await Promise.race([exited, sleep(20000)]);
    const report = d.readLog().match(/==\d+==ERROR: \w+Sanitizer.*|WARNING: ThreadSanitizer.*|runtime error: .*/);
    if (d.proc.exitCode !== 0 || report) {
      console.error(`FAIL: ${d.log}: exit ${d.proc.exitCode}${report ? `, ${report[0]}` : ""}`);
      console.error(d.readLog().split("\n").slice(-40).join("\n"));
      process.exitCode = 1;
    }
  }
  if (process.exitCode !== 1) rmSync(work, { recursive: true, force: true });
  process.exit();
}
