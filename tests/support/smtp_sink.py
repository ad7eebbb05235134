"""A real SMTP server for the notification tests (aiosmtpd on loopback).

Usage: smtp_sink.py OUT_DIR MODE [PORT]
  MODE  accept: store every message; refuse: answer 550 to every recipient;
        hang: accept the connection and never answer (a stuck server).
  PORT  0 (default) picks a free port.
Prints "PORT <n>" once listening. Each accepted message is written to OUT_DIR as <id>.eml (the
raw message) and <id>.json (envelope, decoded text parts, the other parts' headers and sizes
in "inline", and the content types in walk order in "structure"), the .json last, so its
presence means the message is complete.
"""
import asyncio
import email
import email.policy
import json
import os
import sys
import uuid

from aiosmtpd.smtp import SMTP


class Sink:
    def __init__(self, out_dir, refuse):
        self.out_dir = out_dir
        self.refuse = refuse

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.refuse:
            return "550 5.7.1 Recipient refused by policy"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        name = uuid.uuid4().hex
        raw = envelope.original_content or envelope.content
        with open(os.path.join(self.out_dir, name + ".eml"), "wb") as f:
            f.write(raw)
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        parts = {}
        inline = []
        structure = []
        for part in msg.walk():
            structure.append(part.get_content_type())
            if part.get_content_maintype() == "multipart":
                continue
            if part.get_content_maintype() == "text":
                parts[part.get_content_type()] = part.get_content()
            else:
                data = part.get_payload(decode=True) or b""
                inline.append({
                    "contentType": part.get_content_type(),
                    "contentId": str(part["Content-ID"] or ""),
                    "disposition": part.get_content_disposition(),
                    "size": len(data),
                    "isPng": data.startswith(b"\x89PNG\r\n\x1a\n"),
                })
        summary = {
            "mailFrom": envelope.mail_from,
            "rcptTos": envelope.rcpt_tos,
            "from": str(msg["From"]),
            "to": str(msg["To"]),
            "subject": str(msg["Subject"]),
            "messageId": str(msg["Message-ID"]),
            "contentType": msg.get_content_type(),
            "parts": parts,
            "inline": inline,
            "structure": structure,
        }
        tmp = os.path.join(self.out_dir, "." + name + ".json.tmp")
        with open(tmp, "w") as f:
            json.dump(summary, f)
        os.rename(tmp, os.path.join(self.out_dir, name + ".json"))
        return "250 Message accepted for delivery"


async def hang(reader, writer):
    await asyncio.sleep(3600)


async def main():
    out_dir, mode = sys.argv[1], sys.argv[2]
    port = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    os.makedirs(out_dir, exist_ok=True)
    loop = asyncio.get_running_loop()
    if mode == "hang":
        server = await asyncio.start_server(hang, "127.0.0.1", port)
    else:
        handler = Sink(out_dir, refuse=(mode == "refuse"))
        server = await loop.create_server(
            lambda: SMTP(handler, hostname="sink.test"), "127.0.0.1", port
        )
    print("PORT", server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
