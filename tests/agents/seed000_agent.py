#!/usr/bin/python3
"""A meeting-room recorder agent as seed 000 describes its client, for tests.

It connects to recorderd's /ws/agent with the `websockets` library (Debian's
python3-websockets), and behaves as seed 000's agent does:
- on start_recording it starts "recording" and answers start_confirmed;
- while recording it sends recording_status every --status-interval seconds
  (5 s in the seed) with status, elapsed and remaining;
- on stop_recording it stops and answers stop_confirmed (reason manual), or, for the
  server's 3-hour limit (reason automatic_limit), recording_stopped_premature;
- with --manual SUBJECT it starts a recording on its own (the "Record" button).
Every message recorderd sends is printed to stdout as one JSON line, flushed, so that
a test can wait for it.
"""

import argparse
import asyncio
import datetime
import json
import sys

import websockets


def now():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None).isoformat()


class Agent:
    def __init__(self, ws, interval):
        self.ws = ws
        self.interval = interval
        self.meeting = None  # subject, organizer, start_time
        self.expected = None
        self.started = None
        self.status_task = None

    async def send(self, type_, data):
        await self.ws.send(json.dumps({"type": type_, "timestamp": now(), "data": data}))

    def elapsed(self):
        return round(asyncio.get_running_loop().time() - self.started, 3)

    async def start(self, meeting, expected):
        self.meeting = meeting
        self.expected = expected
        self.started = asyncio.get_running_loop().time()
        await self.send("start_confirmed", dict(meeting))
        self.status_task = asyncio.create_task(self.report())

    async def report(self):
        while self.meeting is not None:
            await asyncio.sleep(self.interval)
            if self.meeting is None:
                return
            elapsed = self.elapsed()
            data = dict(self.meeting, status="recording", elapsed=elapsed)
            if self.expected:
                data["remaining"] = max(0.0, self.expected - elapsed)
            await self.send("recording_status", data)

    async def stop(self, reason):
        if self.meeting is None:
            return
        meeting, elapsed = self.meeting, self.elapsed()
        self.meeting = None
        data = dict(meeting, duration_actual=elapsed, duration_expected=self.expected or 0, reason=reason)
        if reason == "automatic_limit":
            await self.send("recording_stopped_premature", data)
        else:
            await self.send("stop_confirmed", dict(data, status="success"))


async def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", required=True, help="ws://host:port/ws/agent?agent_id=<id>")
    p.add_argument("--status-interval", type=float, default=5.0)
    p.add_argument("--manual", metavar="SUBJECT", help="start a recording on the agent itself")
    p.add_argument("--organizer", default="john@company.com")
    p.add_argument("--token", help="an operator token (auth.ingest = token)")
    args = p.parse_args()
    headers = {"Authorization": "Bearer " + args.token} if args.token else None
    async with websockets.connect(args.url, extra_headers=headers) as ws:
        agent = Agent(ws, args.status_interval)
        if args.manual:
            start = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0, tzinfo=None).isoformat()
            await agent.start({"subject": args.manual, "organizer": args.organizer, "start_time": start}, None)
        async for message in ws:
            print(message, flush=True)
            msg = json.loads(message)
            data = msg.get("data", {})
            if msg.get("type") == "start_recording":
                meeting = {k: data[k] for k in ("subject", "organizer", "start_time")}
                await agent.start(meeting, data.get("duration_expected"))
            elif msg.get("type") == "stop_recording":
                await agent.stop(data.get("reason", "manual"))


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except (KeyboardInterrupt, websockets.ConnectionClosed):
        sys.exit(0)
