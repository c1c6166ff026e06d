// A webhook receiver for the tests: every POST is verified with the Standard Webhooks
// reference library (npm "standardwebhooks", which nobody here wrote) and written to the log
// file the test reads: one JSON line ("kind": "arrival") when its body is in, one
// ("kind": "answer") when it is answered. What it answers is switched at run time
// through GET /control?status=503&retry_after=1&delay_ms=0 (status 200 accepts).
//
//   node receiver.mjs <secret> <log file> <port file>
//
// With the secret "none" it verifies nothing and keeps each body as "body" (it plays a
// Slack incoming webhook).
import { createServer } from "node:http";
import { appendFileSync, writeFileSync, renameSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { Webhook } = require("standardwebhooks");

const [secret, logFile, portFile] = process.argv.slice(2);
if (!secret || !logFile || !portFile) {
  console.error("usage: node receiver.mjs <secret> <log file> <port file>");
  process.exit(2);
}
const verifier = secret === "none" ? null : new Webhook(secret);
let mode = { status: 200, retry_after: "", delay_ms: 0 };

const server = createServer((req, res) => {
  const url = new URL(req.url, "http://localhost");
  if (req.method === "GET" && url.pathname === "/control") {
    mode = {
      status: Number(url.searchParams.get("status") ?? 200),
      retry_after: url.searchParams.get("retry_after") ?? "",
      delay_ms: Number(url.searchParams.get("delay_ms") ?? 0),
    };
    res.writeHead(200, { "Content-Type": "application/json" });
    res.end(JSON.stringify(mode));
    return;
  }
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const body = Buffer.concat(chunks).toString("utf8");
    const line = {
      kind: "answer",
      at: Date.now(),
      path: url.pathname,
      id: req.headers["webhook-id"] ?? null,
      timestamp: req.headers["webhook-timestamp"] ?? null,
      signature: req.headers["webhook-signature"] ?? null,
      content_type: req.headers["content-type"] ?? null,
      answered: mode.status,
    };
    if (!verifier) {
      line.verified = null;
      try {
        line.body = JSON.parse(body);
      } catch {
        line.body = body;
      }
    } else try {
      const event = verifier.verify(body, req.headers);
      line.verified = true;
      line.type = event.type;
      line.event_timestamp = event.timestamp;
      line.data = event.data;
    } catch (e) {
      line.verified = false;
      line.error = String(e.message ?? e);
      line.answered = 401;
    }
    appendFileSync(logFile, JSON.stringify({ kind: "arrival", at: Date.now(), id: line.id }) + "\n");
    const answer = () => {
      appendFileSync(logFile, JSON.stringify(line) + "\n");
      const headers = { "Content-Type": "text/plain" };
      if (line.answered !== 200 && mode.retry_after) headers["Retry-After"] = mode.retry_after;
      res.writeHead(line.answered, headers);
      res.end(line.answered === 200 ? "ok" : `receiver answers ${line.answered}`);
    };
    if (mode.delay_ms > 0) setTimeout(answer, mode.delay_ms);
    else answer();
  });
});

server.listen(0, "127.0.0.1", () => {
  writeFileSync(portFile + ".tmp", String(server.address().port));
  renameSync(portFile + ".tmp", portFile);
});
// Stops by itself when the test that started it is gone.
const parent = process.ppid;
setInterval(() => {
  try {
    process.kill(parent, 0);
  } catch {
    process.exit(0);
  }
}, 1000).unref();
