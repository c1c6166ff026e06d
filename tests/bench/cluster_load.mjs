// Several recorderd on one Postgres (docs/performance.md, "Several instances"): what the
// leases cost, and how fast a dead instance's recordings are owned again.
//   ingest   - N seed-001 clients at full speed (one chunk in flight each) for S seconds
//              against: one recorderd on SQLite (no leases: the baseline), one on
//              Postgres (leases, renewal, the listener), three on the same Postgres with
//              the clients spread over them. MB/s, ack p50/p99, the servers' CPU per GB.
//   takeover - R streams live on one of three instances, each client connected and idle;
//              kill -9 that instance; every client reconnects at once to one of the other
//              two and sends `start` (again every 200 ms while refused). Time from the kill
//              until no unfinished recording is held by the dead instance (by the
//              database), and until each client is resumed; the goal is lease + 2 s.
// Prints figures; asserts nothing about speed. All processes share this machine's cores.
// usage: node cluster_load.mjs RECORDERD POSTGRES_SH [--seconds 10] [--clients 30]
//          [--chunk 65536] [--recordings 300] [--lease 5]

import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, existsSync, openSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";
import { randomBytes } from "node:crypto";

const here = dirname(fileURLToPath(import.meta.url));
const WebSocket = createRequire(join(here, "..", "socketio", "package.json"))("ws");
const [recorderd, postgresSh, ...rest] = process.argv.slice(2);
const opt = (name, def) => {
  const i = rest.indexOf(`--${name}`);
  return i >= 0 ? Number(rest[i + 1]) : def;
};
const SECONDS = opt("seconds", 10);
const CLIENTS = opt("clients", 30);
const CHUNK = opt("chunk", 65536);
const RECORDINGS = opt("recordings", 300);
const LEASE = opt("lease", 5);

const work = mkdtempSync(join(tmpdir(), "recorderd-cluster-bench-"));
const pgDir = join(tmpdir(), `recorderd-cluster-bench-pg-${process.pid}`);  // reachable by the postgres user
const daemons = [];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function die(message) {
  for (const d of daemons) console.error(`--- ${d.name} ---\n` + d.readLog().split("\n").slice(-15).join("\n"));
  throw new Error(message);
}
async function waitFor(what, predicate, ms = 30000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const v = await predicate();
    if (v) return v;
    await sleep(20);
  }
  die(`timed out after ${ms} ms waiting for ${what}`);
}
const pct = (sorted, p) => sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] : NaN;

let adminUrl = "";
let dbCount = 0;
function newDatabase() {
  const name = `bench${++dbCount}`;
  const r = spawnSync("psql", [adminUrl, "-qc", `CREATE DATABASE ${name}`], { encoding: "utf8" });
  if (r.status !== 0) die(`CREATE DATABASE: ${r.stderr}`);
  return adminUrl.slice(0, adminUrl.lastIndexOf("/") + 1) + name;
}
function sql(url, query) {
  const r = spawnSync("psql", [url, "-Atqc", query], { encoding: "utf8" });
  if (r.status !== 0) die(`psql: ${query}: ${r.stderr}`);
  return r.stdout.trim();
}

async function startDaemon(name, dir, extra) {
  const log = join(work, `${name}.log`);
  const proc = spawn(recorderd, ["--data-dir", dir, "--listen", "127.0.0.1:0", ...extra],
                     { stdio: ["ignore", openSync(log, "a"), openSync(log, "a")] });
  const d = { name, proc, readLog: () => (existsSync(log) ? readFileSync(log, "utf8") : "") };
  proc.on("exit", () => { d.exited = true; });
  daemons.push(d);
  d.port = await waitFor(`${name} to listen`, () => {
    if (d.exited) die(`${name} exited`);
    return d.readLog().match(/msg="recorderd started".* listen=127\.0\.0\.1:(\d+)/)?.[1];
  });
  d.ws = `ws://127.0.0.1:${d.port}/ws/record`;
  return d;
}
async function stopAll() {
  for (const d of daemons.splice(0)) {
    if (d.exited) continue;
    d.proc.kill("SIGTERM");
    await waitFor(`${d.name} to stop`, () => d.exited, 30000);
  }
}
const clusterArgs = (url, id) => ["--set", "store.backend=postgres", "--set", `store.postgres_url=${url}`,
                                  "--set", `cluster.instance_id=${id}`, "--set", `cluster.lease_seconds=${LEASE}`];
function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;  // utime + stime, in clock ticks of 10 ms
}

// One client at full speed: a chunk, its ack, the next.
function fullSpeed(url, id, chunk, until, lat) {
  return new Promise((resolve) => {
    const ws = new WebSocket(url);
    let bytes = 0;
    let index = 0;
    let sent = 0;
    const send = () => {
      if (Date.now() >= until) { ws.close(); return; }
      sent = performance.now();
      ws.send(JSON.stringify({ event: "chunk", data: { recordId: id, index: index++, data: chunk } }));
    };
    ws.on("open", () => ws.send(JSON.stringify({ event: "start", data: { recordId: id, mimeType: "video/webm" } })));
    ws.on("message", (raw) => {
      const m = JSON.parse(raw.toString());
      if (m.event === "started") send();
      else if (m.event === "chunkAck") { lat.push(performance.now() - sent); bytes += CHUNK; send(); }
      else if (m.event === "chunkError" || m.event === "error") die(`${id}: ${raw}`);
    });
    ws.on("close", () => resolve(bytes));
    ws.on("error", (e) => die(`${id}: ${e.message}`));
  });
}

async function ingest(label, instances) {
  const chunk = randomBytes(CHUNK).toString("base64");
  const cpu0 = instances.map((d) => cpuSeconds(d.proc.pid));
  const lat = [];
  const t0 = Date.now();
  const until = t0 + SECONDS * 1000;
  const totals = await Promise.all(Array.from({ length: CLIENTS }, (_, n) =>
    fullSpeed(instances[n % instances.length].ws, `${label.replace(/\W/g, "")}-${n}`, chunk, until, lat)));
  const elapsed = (Date.now() - t0) / 1000;
  const bytes = totals.reduce((a, b) => a + b, 0);
  const cpu = instances.reduce((s, d, i) => s + cpuSeconds(d.proc.pid) - cpu0[i], 0);
  lat.sort((a, b) => a - b);
  const r = { label, mbps: bytes / 1e6 / elapsed, p50: pct(lat, 0.5), p99: pct(lat, 0.99), cpuPerGb: cpu / (bytes / 1e9) };
  console.log(`${label.padEnd(14)} ${r.mbps.toFixed(1).padStart(7)} MB/s  ack p50 ${r.p50.toFixed(2)} ms  p99 ${r.p99.toFixed(2)} ms  ` +
              `server CPU ${r.cpuPerGb.toFixed(2)} s/GB`);
  return r;
}

// A client that starts, sends one chunk, waits; on `resume(target)` it reconnects there and
// sends `start` until it is resumed.
function idleClient(id) {
  const c = { id };
  c.open = (url) => new Promise((resolve) => {
    const ws = new WebSocket(url);
    ws.on("open", () => ws.send(JSON.stringify({ event: "start", data: { recordId: id, mimeType: "video/webm" } })));
    ws.on("message", (raw) => {
      const m = JSON.parse(raw.toString());
      if (m.event === "started") ws.send(JSON.stringify({ event: "chunk", data: { recordId: id, index: 0, data: "AAAA" } }));
      else if (m.event === "chunkAck") resolve();
      else die(`${id}: ${raw}`);
    });
    ws.on("error", () => {});
  });
  c.resume = (url, t0) => new Promise((resolve) => {
    const ws = new WebSocket(url);
    const start = () => ws.send(JSON.stringify({ event: "start", data: { recordId: id, mimeType: "video/webm" } }));
    ws.on("open", start);
    ws.on("message", (raw) => {
      const m = JSON.parse(raw.toString());
      if (m.event === "started") {
        if (!m.data.resumed || m.data.nextIndex !== 1) die(`${id}: not resumed where it was: ${raw}`);
        c.resumedAfter = Date.now() - t0;
        ws.close();
        resolve();
      } else if (m.event === "error") setTimeout(start, 200);
    });
    ws.on("error", (e) => die(`${id}: ${e.message}`));
  });
  return c;
}

async function takeover() {
  const url = newDatabase();
  const dir = join(work, "takeover");
  const [a, b, c] = [await startDaemon("t1", dir, clusterArgs(url, "t1")), await startDaemon("t2", dir, clusterArgs(url, "t2")),
                     await startDaemon("t3", dir, clusterArgs(url, "t3"))];
  const clients = Array.from({ length: RECORDINGS }, (_, n) => idleClient(`orphan-${n}`));
  for (let n = 0; n < clients.length; n += 50) await Promise.all(clients.slice(n, n + 50).map((x) => x.open(a.ws)));
  const held = sql(url, "SELECT count(*) FROM recordings WHERE lease_instance = 't1' AND state NOT IN ('ready','failed','deleted')");
  if (Number(held) !== RECORDINGS) die(`t1 holds ${held} of ${RECORDINGS}`);
  await sleep(LEASE * 1000 / 3);  // a renewal after the last start, as in steady state
  // When the dead instance's leases run out, by the database's clock (the last renewal).
  const expiresIn = Number(sql(url, "SELECT extract(epoch FROM max(lease_until) - now()) * 1000 FROM recordings")) | 0;
  const t0 = Date.now();
  a.proc.kill("SIGKILL");
  const resumed = Promise.all(clients.map((x, n) => x.resume((n % 2 ? b : c).ws, t0)));
  let ownedAgain = null;
  while (ownedAgain === null) {
    const left = sql(url, "SELECT count(*) FROM recordings WHERE lease_instance = 't1' AND state NOT IN ('ready','failed','deleted')");
    if (left === "0") ownedAgain = Date.now() - t0;
    else await sleep(20);
  }
  await resumed;
  const times = clients.map((x) => x.resumedAfter).sort((x, y) => x - y);
  console.log(`takeover       ${RECORDINGS} recordings, lease ${LEASE} s: all owned again after ${ownedAgain} ms ` +
              `(goal ${(LEASE + 2) * 1000} ms; the leases ran out at ${expiresIn} ms, so ${ownedAgain - expiresIn} ms ` +
              `after that); clients resumed p50 ${pct(times, 0.5)} ms, p99 ${pct(times, 0.99)} ms, ` +
              `last ${times[times.length - 1]} ms`);
  await stopAll();
}

try {
  const r = spawnSync(postgresSh, ["init", pgDir], { encoding: "utf8" });
  if (r.status !== 0) die(`postgres.sh init: ${r.stderr}`);
  adminUrl = readFileSync(join(pgDir, "url"), "utf8").trim();
  console.log(`# ${CLIENTS} clients, ${CHUNK} B chunks, ${SECONDS} s per phase; lease ${LEASE} s`);

  const base = await ingest("sqlite x1", [await startDaemon("sqlite", join(work, "sqlite"), [])]);
  await stopAll();
  const url1 = newDatabase();
  const one = await ingest("postgres x1", [await startDaemon("p1", join(work, "pg1"), clusterArgs(url1, "p1"))]);
  await stopAll();
  const url3 = newDatabase();
  const three = [];
  for (const id of ["q1", "q2", "q3"]) three.push(await startDaemon(id, join(work, "pg3"), clusterArgs(url3, id)));
  const many = await ingest("postgres x3", three);
  await stopAll();
  console.log(`ratios         postgres x1 / sqlite x1: ${(one.mbps / base.mbps).toFixed(2)}x MB/s, ` +
              `${(one.cpuPerGb / base.cpuPerGb).toFixed(2)}x CPU/GB; postgres x3 / x1: ${(many.mbps / one.mbps).toFixed(2)}x MB/s, ` +
              `${(many.cpuPerGb / one.cpuPerGb).toFixed(2)}x CPU/GB, ack p99 ${(many.p99 / one.p99).toFixed(2)}x`);
  await takeover();
} finally {
  for (const d of daemons) { try { d.proc.kill("SIGKILL"); } catch {} }
  spawnSync(postgresSh, ["destroy", pgDir]);
  rmSync(work, { recursive: true, force: true });
}
