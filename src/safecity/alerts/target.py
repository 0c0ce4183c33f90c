"""Where webhooks may point: public addresses only, unless the operator allows a private network.

A webhook URL is a request the platform makes on its owner's behalf; pointed at loopback, a
private network or a cloud metadata address it would let an account probe or feed the inside of
the deployment (server-side request forgery). The policy is checked when a webhook is registered
and again before every delivery attempt, because a name can be re-pointed after registration.
A name that does not resolve at registration is accepted (the receiver may not be up yet); it is
checked when it does. What remains is the short window between this check and httpx's own
lookup (DNS rebinding within milliseconds), which an egress firewall closes if it matters.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from safecity.alerts.errors import InvalidAlertInput

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str) -> tuple[Network, ...]:
    """Networks from comma-separated CIDRs ("10.0.0.0/8, 127.0.0.1/32"); ValueError names a bad one."""
    networks: list[Network] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError as exc:
            raise ValueError(f"{item!r} is not a network (CIDR such as 10.0.0.0/8): {exc}") from None
    return tuple(networks)


@dataclass(frozen=True, slots=True)
class TargetPolicy:
    """Public (globally routable) addresses, plus the private networks the operator allows."""

    allowed: tuple[Network, ...] = ()

    def permits(self, address: Address) -> bool:
        """Whether a delivery may connect to this address."""
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.allowed) or address.is_global

    def refusal(self, host: str, addresses: Iterable[str]) -> str | None:
        """Why this host may not be a target (None: it may), given the addresses it resolves to."""
        for text in addresses:
            address = ipaddress.ip_address(text.split("%", 1)[0])  # drop an IPv6 zone index
            if not self.permits(address):
                return (
                    f"the webhook host {host} is at {address}, a loopback, private or reserved address; "
                    "only public addresses may receive alerts unless the operator allows that network "
                    "(SAFECITY_WEBHOOK_ALLOWED_NETWORKS)"
                )
        return None

    def check_registration(self, url: str) -> None:
        """Refuse (InvalidAlertInput, field url) a URL that is not http(s) or points inside."""
        host = _host_of(url)
        refused = self.refusal(host, _resolve(host))
        if refused is not None:
            raise InvalidAlertInput(refused, field="url")

    async def delivery_refusal(self, url: str) -> str | None:
        """Why a delivery to this URL may not go out now (None: it may), resolving without blocking."""
        host = _host_of(url)
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except OSError:
            return None  # unresolvable: the connection fails on its own, nothing reaches inside
        return self.refusal(host, (str(info[4][0]) for info in infos))


def _host_of(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidAlertInput("url must be an http or https URL with a host", field="url")
    return parts.hostname


def _resolve(host: str) -> list[str]:
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    try:
        return [str(info[4][0]) for info in socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)]
    except OSError:
        return []  # not resolvable yet: checked again before every delivery


__all__ = ["TargetPolicy", "parse_networks"]
