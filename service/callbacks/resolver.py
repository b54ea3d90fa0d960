"""An aiohttp resolver that returns only addresses the policy allows.

The HTTP client connects to what its resolver returns, so checking here (rather than resolving once to
check and letting the client resolve again) leaves no gap for DNS rebinding: the checked addresses are
the ones connected to. Literal IP hosts skip resolvers in aiohttp; ``policy.check_url`` covers those.
"""

from __future__ import annotations

import ipaddress
import socket

from aiohttp.abc import AbstractResolver, ResolveResult

from service.callbacks.policy import UrlPolicy, address_refusal
from service.errors import CallbackRefused


class CheckedResolver(AbstractResolver):
    def __init__(self, policy: UrlPolicy, inner: AbstractResolver) -> None:
        self._policy = policy
        self._inner = inner

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        allowed: list[ResolveResult] = []
        refusals = []
        for result in results:
            refusal = address_refusal(ipaddress.ip_address(result["host"]), self._policy)
            if refusal is None:
                allowed.append(result)
            else:
                refusals.append(refusal)
        if not allowed:
            reason = refusals[0].reason if refusals else "unresolvable"
            detail = "; ".join(sorted({r.message for r in refusals})) or "no addresses"
            raise CallbackRefused(
                f"callback host {host} resolves to refused addresses: {detail}", reason=reason
            )
        return allowed

    async def close(self) -> None:
        await self._inner.close()
