"""Example callback receiver for the compose `callbacks` profile: verifies Standard Webhooks signatures.

Standard library only, so it runs in the claude-kafka image (or any Python 3.9+). It answers 204 to a
correctly signed, fresh request and 401 otherwise, and logs one line per request. A development aid, not
a production receiver: it speaks plain HTTP and keeps no record of seen `webhook-id`s (a real receiver
deduplicates on it, since delivery is at-least-once).

    CALLBACK_SIGNING_SECRET=whsec_... python deploy/compose/callback-receiver.py --port 8080
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOLERANCE_SECONDS = 300  # refuse replays of old requests, as the Standard Webhooks libraries do


def signing_key(secret: str) -> bytes:
    """`whsec_` + base64 is the spec's form; any other text is its UTF-8 bytes (as the sender does)."""
    if secret.startswith("whsec_"):
        return base64.b64decode(secret.removeprefix("whsec_"))
    return secret.encode()


def verified(key: bytes, headers: dict[str, str], body: bytes) -> bool:
    msg_id, ts, signatures = (
        headers.get(h, "") for h in ("webhook-id", "webhook-timestamp", "webhook-signature")
    )
    if not (msg_id and ts.isdigit()) or abs(time.time() - int(ts)) > TOLERANCE_SECONDS:
        return False
    mac = hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    expected = "v1," + base64.b64encode(mac).decode()
    return any(hmac.compare_digest(expected, sig) for sig in signatures.split())


class Handler(BaseHTTPRequestHandler):
    key = b""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        headers = {k.lower(): v for k, v in self.headers.items()}
        ok = verified(self.key, headers, body)  # over the raw bytes, before parsing JSON
        event = json.loads(body) if ok else {}
        print(
            json.dumps(
                {
                    "verified": ok,
                    "webhook_id": headers.get("webhook-id"),
                    "kind": "error" if "error" in event else ("completion" if event else None),
                    "custom_id": event.get("custom_id"),
                }
            ),
            flush=True,
        )
        self.send_response(204 if ok else 401)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass  # one JSON line per request above is enough


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    secret = os.environ.get("CALLBACK_SIGNING_SECRET", "")
    if not secret:
        raise SystemExit("callback-receiver: set CALLBACK_SIGNING_SECRET (the same value as the sender's)")
    Handler.key = signing_key(secret)
    print(f"callback-receiver listening on {args.host}:{args.port}", flush=True)
    ThreadingHTTPServer((args.host, args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
