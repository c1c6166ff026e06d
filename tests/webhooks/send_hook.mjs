// Posts one inbound webhook to recorderd, signed with the Standard Webhooks reference
// library (npm "standardwebhooks"), and prints the answer as JSON: {"status", "body"}.
//
//   node send_hook.mjs <url> <secret> <webhook-id> <body JSON> [--age SECONDS] [--tamper] [--unsigned]
//
// --age signs with a timestamp that many seconds in the past; --tamper changes the body
// after signing ("kata" becomes "evil"); --unsigned sends no Standard Webhooks headers at all.
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { Webhook } = require("standardwebhooks");

const [url, secret, id, body, ...flags] = process.argv.slice(2);
const age = flags.includes("--age") ? Number(flags[flags.indexOf("--age") + 1]) : 0;
const when = new Date(Date.now() - age * 1000);
const signature = new Webhook(secret).sign(id, when, body);
const headers = { "Content-Type": "application/json" };
if (!flags.includes("--unsigned")) {
  headers["webhook-id"] = id;
  headers["webhook-timestamp"] = String(Math.floor(when.getTime() / 1000));
  headers["webhook-signature"] = signature;
}
const sent = flags.includes("--tamper") ? body.replaceAll("kata", "evil") : body;
const res = await fetch(url, { method: "POST", headers, body: sent });
console.log(JSON.stringify({ status: res.status, body: await res.text() }));
