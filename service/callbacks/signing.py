"""Standard Webhooks signing (https://www.standardwebhooks.com). Pure.

``webhook-signature`` is ``v1,`` + base64(HMAC-SHA256(secret, f"{id}.{timestamp}.{body}")). The secret
is usually given as ``whsec_`` + base64 of the key bytes, which is what Standard Webhooks libraries take;
any other text is used as its UTF-8 bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

SECRET_PREFIX = "whsec_"


def secret_key(secret: str) -> bytes:
    """The HMAC key of a configured secret: ``whsec_<base64>`` decoded, else the text's bytes."""
    if secret.startswith(SECRET_PREFIX):
        try:
            return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
        except binascii.Error as exc:
            raise ValueError("CALLBACK_SIGNING_SECRET starts with whsec_ but is not valid base64") from exc
    if not secret:
        raise ValueError("CALLBACK_SIGNING_SECRET is empty")
    return secret.encode()


def webhook_id(kind: str, custom_id: str, generation: int, attempt: int) -> str:
    """The same id on every retry of one outcome (receivers deduplicate on it); a new one per outcome.

    Derived, not random, so a redelivery after a dispatcher restart carries the same id too.
    """
    digest = hashlib.sha256(f"{kind}\0{custom_id}\0{generation}\0{attempt}".encode()).hexdigest()
    return f"msg_{digest[:32]}"


def signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return f"v1,{base64.b64encode(mac).decode()}"


def signed_headers(key: bytes, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers; ``timestamp`` is integer Unix seconds of this attempt."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(key, msg_id, timestamp, body),
    }
