"""The RQ job of scenario 5: what people write first. One blocking ``messages.create`` (no
streaming), then the whole answer POSTed to a callback URL."""

from __future__ import annotations

import json
import urllib.request

import anthropic


def call_claude(custom_id: str, base_url: str, callback_url: str, text: str) -> None:
    client = anthropic.Anthropic(base_url=base_url, api_key="bench", max_retries=2)
    message = client.messages.create(
        model="claude-haiku-4-5", max_tokens=4096, messages=[{"role": "user", "content": text}]
    )
    body = json.dumps({"custom_id": custom_id, "message": message.to_dict()}).encode()
    request = urllib.request.Request(callback_url, body, {"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()
