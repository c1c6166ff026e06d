// Socket.IO against plain WebSocket, same server, same run (docs/performance.md, "Socket.IO").
// Node clients all of them, so the client side costs the same kind of CPU in each phase:
//   ws/record          npm ws on /ws/record: binary frames, JSON chunkAck
//   socket.io ws       socket.io-client 4.8, transports: ['websocket'], binary attachments
//   socket.io polling  socket.io-client 4.8, transports: ['polling'] (base64 in POST bodies)
// Two workloads per phase:
//   throughput: C clients, one chunk in flight each, as fast as acks come (MB/s, server
//     CPU seconds per GB from /proc/<pid>/stat, ack latency percentiles);
//   paced: P clients at 1 chunk/s each (ack latency percentiles at a realistic rate).
// usage: node socketio_load.mjs /path/to/recorderd [--seconds S] [--clients C] [--paced P] [--chunk BYTES]

import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, openSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";

const require = createRequire(join(dirname(fileURLToPath(import.meta.url)), "../socketio/package.json"));
const { io } = require("socket.io-client");
const WebSocket = require("ws");

const args = process.argv.slice(2);
const recorderd = args[0];
const opt = (name, def) => { const i = args.indexOf(`--${name}`); return i > 0 ? Number(args[i + 1]) : def; };
const seconds = opt("seconds", 10);
const clients = opt("clients", 16);
const paced = opt("paced", 200);
const chunkBytes = opt("chunk", 64 * 1024);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const work = mkdtempSync(join(tmpdir(), "recorderd-sio-bench-"));
const logFile = join(work, "recorderd.log");
const chunk = Buffer.alloc(chunkBytes, 0x5a);
const CLK_TCK = 100;

const out = openSync(logFile, "a");
const daemon = spawn(recorderd, ["--data-dir", join(work, "data"), "--listen", "127.0.0.1:0"],
                     { stdio: ["ignore", out, out] });
const readLog = () => (existsSync(logFile) ? readFileSync(logFile, "utf8") : "");
let port;
for (let i = 0; i < 200 && !port; i++) {
  port = readLog().match(/msg="recorderd started".* listen=127\.0\.0\.1:(\d+)/)?.[1];
  if (!port) await sleep(50);
}
if (!port) { console.error(readLog()); process.exit(1); }
const base = `http://127.0.0.1:${port}`;

function cpuSeconds() {
  const f = readFileSync(`/proc/${daemon.pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;  // utime + stime
}
function rssMiB() {
  return Number(readFileSync(`/proc/${daemon.pid}/status`, "utf8").match(/VmRSS:\s+(\d+)/)[1]) / 1024;
}
const pct = (sorted, p) => sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] : NaN;

// A client: open(), send(index) -> Promise of the ack (latency measured by the caller), close().
function wsClient(recordId) {
  let ws, waiting = null;
  return {
    async open() {
      ws = new WebSocket(`ws://127.0.0.1:${port}/ws/record`);
      await new Promise((ok, bad) => { ws.on("open", ok); ws.on("error", bad); });
      ws.on("message", (m) => {
        const msg = JSON.parse(m.toString());
        if ((msg.event === "chunkAck" || msg.event === "started" || msg.event === "chunkError") && waiting) {
          const w = waiting; waiting = null; w(msg);
        }
      });
      const started = new Promise((r) => (waiting = r));
      ws.send(JSON.stringify({ event: "start", data: { recordId } }));
      await started;
    },
    send() { const p = new Promise((r) => (waiting = r)); ws.send(chunk); return p; },
    close() { ws.send(JSON.stringify({ event: "stop", data: { recordId } })); ws.close(); },
  };
}
function sioClient(recordId, transports) {
  let s, index = 0;
  return {
    async open() {
      s = io(base, { transports, forceNew: true, reconnection: false });
      await new Promise((ok, bad) => { s.on("connect", ok); s.on("connect_error", bad); });
      await s.timeout(10000).emitWithAck("start", { recordId });
    },
    send() { return s.timeout(30000).emitWithAck("chunk", { recordId, index: index++, data: chunk }); },
    close() { s.emit("stop", { recordId }); setTimeout(() => s.close(), 200); },
  };
}

async function throughput(name, make) {
  const cs = Array.from({ length: clients }, (_, i) => make(`${name}-t-${i}-${Date.now()}`));
  await Promise.all(cs.map((c) => c.open()));
  const lat = [];
  let acked = 0;
  const cpu0 = cpuSeconds();
  const t0 = performance.now();
  const until = t0 + seconds * 1000;
  await Promise.all(cs.map(async (c) => {
    while (performance.now() < until) {
      const s = performance.now();
      const a = await c.send();
      if (a.error || a.data?.error) throw new Error(`${name}: ${JSON.stringify(a)}`);
      lat.push(performance.now() - s);
      acked++;
    }
  }));
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds() - cpu0;
  cs.forEach((c) => c.close());
  const gb = (acked * chunkBytes) / 1e9;
  lat.sort((a, b) => a - b);
  return { mbps: (acked * chunkBytes) / 1e6 / elapsed, cpuPerGb: cpu / gb, p50: pct(lat, 0.5), p99: pct(lat, 0.99), acked };
}

async function pacedRun(name, make) {
  const cs = [];
  for (let i = 0; i < paced; i += 20)  // open in batches: a handshake storm is not the subject
    cs.push(...(await Promise.all(Array.from({ length: Math.min(20, paced - i) }, async (_, j) => {
      const c = make(`${name}-p-${i + j}-${Date.now()}`);
      await c.open();
      return c;
    }))));
  const lat = [];
  const cpu0 = cpuSeconds();
  const until = performance.now() + seconds * 1000;
  await Promise.all(cs.map(async (c, i) => {
    await sleep((i * 1000) / cs.length);  // spread over the second
    while (performance.now() < until) {
      const s = performance.now();
      await c.send();
      lat.push(performance.now() - s);
      await sleep(Math.max(0, 1000 - (performance.now() - s)));
    }
  }));
  const cpu = cpuSeconds() - cpu0;
  const rss = rssMiB();
  cs.forEach((c) => c.close());
  lat.sort((a, b) => a - b);
  return { p50: pct(lat, 0.5), p99: pct(lat, 0.99), max: lat[lat.length - 1], cpuPct: (100 * cpu) / seconds, rss, n: lat.length };
}

const phases = [
  ["ws/record", (id) => wsClient(id)],
  ["socket.io ws", (id) => sioClient(id, ["websocket"])],
  ["socket.io polling", (id) => sioClient(id, ["polling"])],
];
const f = (x, d = 1) => x.toFixed(d);
try {
  console.log(`recorderd ${base}; ${seconds} s per phase; ${clients} clients at full speed, ${paced} at 1 chunk/s; chunks of ${chunkBytes} bytes`);
  const results = [];
  for (const [name, make] of phases) {
    // A pause between workloads lets the stops finalize; the smoke test's runs are short.
    const pause = seconds >= 5 ? 1000 : 100;
    const t = await throughput(name, make);
    await sleep(pause);
    const p = await pacedRun(name, make);
    await sleep(pause);
    results.push({ name, t, p });
    console.log(`${name.padEnd(18)} throughput ${f(t.mbps)} MB/s, server CPU ${f(t.cpuPerGb, 2)} s/GB, ack p50 ${f(t.p50, 2)} ms p99 ${f(t.p99, 2)} ms | ` +
                `paced ack p50 ${f(p.p50, 2)} ms p99 ${f(p.p99, 2)} ms max ${f(p.max, 1)} ms, server CPU ${f(p.cpuPct)} %, RSS ${f(p.rss)} MiB`);
  }
  const [b] = results;
  for (const r of results.slice(1))
    console.log(`${r.name} / ws/record: throughput ${f(r.t.mbps / b.t.mbps, 2)}x, CPU per GB ${f(r.t.cpuPerGb / b.t.cpuPerGb, 2)}x, ` +
                `paced ack p50 ${f(r.p.p50 / b.p.p50, 2)}x p99 ${f(r.p.p99 / b.p.p99, 2)}x`);
} finally {
  daemon.kill("SIGTERM");
  await new Promise((r) => (daemon.exitCode !== null ? r() : daemon.on("exit", r)));
  rmSync(work, { recursive: true, force: true });
  process.exit(process.exitCode ?? 0);
}
