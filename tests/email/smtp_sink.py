#!/usr/bin/python3
"""A real SMTP server for the tests (Debian's python3-aiosmtpd), on loopback.

Every message it takes is appended to <log file> as one JSON line: the envelope sender and
recipients, the message text as received, and its Subject as Python's e-mail parser decodes
it (RFC 2047 words included). It writes the port it listens on to
<port file>, and exits when the process that started it is gone.

    smtp_sink.py <log file> <port file>
"""
import asyncio
import email
import email.policy
import json
import os
import sys

from aiosmtpd.smtp import SMTP


class Sink:
    def __init__(self, log):
        self.log = log

    async def handle_DATA(self, server, session, envelope):
        content = envelope.content.decode("utf-8", errors="replace")
        subject = str(email.message_from_bytes(envelope.content, policy=email.policy.default)["subject"])
        with open(self.log, "a", encoding="utf-8") as f:
            f.write(json.dumps({"mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos,
                                "content": content, "subject": subject}) + "\n")
        return "250 OK"


async def main(log, port_file):
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(Sink(log), hostname="sink.test"), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    with open(port_file + ".tmp", "w") as f:
        f.write(str(port))
    os.rename(port_file + ".tmp", port_file)
    parent = os.getppid()
    while os.getppid() == parent:
        await asyncio.sleep(1)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: smtp_sink.py <log file> <port file>")
    asyncio.run(main(sys.argv[1], sys.argv[2]))
