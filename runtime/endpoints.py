"""Which model and embedding endpoints the server calls for an agent, and with which key.

The operator names providers (endpoint, key, models); an agent's `llm_config`/`embedding_config`
chooses one by its endpoint URL or its name. The operator's keys go to their own providers only.
Any other endpoint is refused unless the operator opts in to users' endpoints; then no key of the
operator's is attached, the user may give a key of their own (sealed with Fernet before it reaches
an event: the log never holds it in plain text), and addresses that reach the server's own network
(loopback, private, link-local, multicast, unspecified...) stay refused unless the operator allows
them. A user's host is resolved before every call, each address it resolves to checked, and the
call then goes to the checked address, so a second resolution cannot point it elsewhere.
"""

import asyncio
import base64
import hashlib
import ipaddress
import os
import secrets
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import httpx
from cryptography.fernet import Fernet, InvalidToken

from domain.configs import LOCAL_TYPES, EmbeddingConfig, LLMConfig

if TYPE_CHECKING:
    from runtime.config import Config

_NAT64 = ipaddress.ip_network("64:ff9b::/96")

Kind = Literal["llm", "embedding"]
# field names per kind: (endpoint type, endpoint, model), as MemGPT 0.3.x spells them
FIELDS: dict[Kind, tuple[str, str, str]] = {
    "llm": ("model_endpoint_type", "model_endpoint", "model"),
    "embedding": ("embedding_endpoint_type", "embedding_endpoint", "embedding_model"),
}
SEALED = "api_key_sealed"  # where an agent's own key is kept, encrypted
CONFIGS: dict[Kind, type[LLMConfig] | type[EmbeddingConfig]] = {"llm": LLMConfig, "embedding": EmbeddingConfig}


class EndpointRefused(Exception):
    """An endpoint this server will not call for this agent; the message is safe to show."""


@dataclass(frozen=True)
class Provider:
    """An endpoint the operator configured; its key is the operator's."""

    name: str
    endpoint_type: str
    endpoint: str
    api_key: str | None = field(default=None, repr=False)
    models: tuple[str, ...] = ()  # empty: any model the endpoint serves


@dataclass(frozen=True)
class Target:
    """What one agent's calls go to: resolved from its config at call time."""

    endpoint_type: str
    url: str
    model: str
    api_key: str | None = field(repr=False)
    operator: bool  # an operator's provider: trusted, no address check


def _same(a: str, b: str) -> bool:
    try:
        x, y = httpx.URL(a.strip()), httpx.URL(b.strip())
    except (httpx.InvalidURL, TypeError):
        return False
    return (x.scheme, x.host, x.port, x.path.rstrip("/"), x.query) == (
        y.scheme,
        y.host,
        y.port,
        y.path.rstrip("/"),
        y.query,
    )


def _inner(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, NAT64), else itself."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped:
            return ip.ipv4_mapped
        if ip.sixtofour:
            return ip.sixtofour
        if ip in _NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def internal(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """True for addresses that reach the server's own host or network rather than the internet."""
    ip = _inner(ip)
    return not ip.is_global or ip.is_multicast or ip.is_unspecified or ip.is_loopback or ip.is_link_local


class Sealer:
    """Fernet with the operator's secret: MEMGPT_SECRET_KEY, else a key file made once in the data
    directory (mode 0600). Users' keys are sealed before they go into an event and opened only in
    the runtime, when an adapter is built."""

    def __init__(self, secret: str | None, home: Path) -> None:
        self._secret = secret
        self._home = home
        self._fernet: Fernet | None = None

    def _load(self) -> Fernet:
        if self._fernet is None:
            secret = self._secret or self._file_secret()
            self._fernet = Fernet(base64.urlsafe_b64encode(hashlib.sha256(secret.encode()).digest()))
        return self._fernet

    def _file_secret(self) -> str:
        path = self._home / "secret.key"
        if not path.exists():
            self._home.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # another process made it first
                pass
            else:
                with os.fdopen(fd, "w") as f:
                    f.write(secrets.token_urlsafe(32))
        return path.read_text().strip()

    def seal(self, plain: str) -> str:
        return self._load().encrypt(plain.encode()).decode()

    def open(self, token: str) -> str:
        try:
            return self._load().decrypt(token.encode()).decode()
        except (InvalidToken, ValueError):
            raise EndpointRefused("The agent's own API key cannot be read with this server's secret.") from None


@dataclass(frozen=True)
class Pinned:
    """Where a call to a user's endpoint goes: the checked address in the URL, the name in the
    Host header and (for https) in the TLS handshake."""

    url: str
    headers: dict[str, str]
    server_hostname: str | None


class Endpoints:
    """The operator's providers and the rules for any other endpoint."""

    def __init__(self, providers: tuple[Provider, ...], allow_user: bool, allow_internal: bool, sealer: Sealer) -> None:
        self.providers = providers
        self.allow_user = allow_user
        self.allow_internal = allow_internal
        self._sealer = sealer

    @classmethod
    def of(cls, config: "Config") -> "Endpoints":
        return cls(
            config.providers,
            config.allow_user_endpoints,
            config.allow_internal_endpoints,
            Sealer(config.secret_key, config.home),
        )

    def named(self, value: str | None) -> Provider | None:
        """The provider a name or endpoint URL designates."""
        if not value:
            return None
        for provider in self.providers:
            if value == provider.name or _same(value, provider.endpoint):
                return provider
        return None

    def public_endpoint(self, value: str | None) -> str | None:
        """What a user sees for an endpoint: an operator's URL becomes its provider's name."""
        provider = self.named(value)
        return provider.name if provider else value

    def _provider(self, config: LLMConfig | EmbeddingConfig) -> Provider | None:
        return self.named(config.provider) or self.named(config.endpoint)

    @staticmethod
    def _check_model(provider: Provider, model: str | None, kind: Kind) -> None:
        if provider.models and model not in provider.models:
            raise EndpointRefused(
                f"The provider {provider.name!r} serves {', '.join(provider.models)}; not {model!r}."
                if kind == "llm"
                else f"The provider {provider.name!r} does not serve the embedding model {model!r}."
            )

    async def accept(self, config: dict[str, Any], kind: Kind) -> dict[str, Any]:
        """The config to store for a new agent; `EndpointRefused` (422) when the server will not
        call that endpoint for this user. A user's own key comes back sealed."""
        type_field, endpoint_field, _ = FIELDS[kind]
        config = dict(config)
        key = config.pop("api_key", None)
        config.pop(SEALED, None)  # only the server seals
        requested = config.pop("provider", None)
        given = CONFIGS[kind].from_dict(config)
        if given.endpoint_kind in LOCAL_TYPES and not requested:
            return config
        provider = self.named(requested) if requested else self.named(given.endpoint)
        if requested and provider is None:
            raise EndpointRefused(f"No provider is named {requested!r}; GET /api/models lists them.")
        if provider is not None:
            if key:
                raise EndpointRefused(
                    f"{endpoint_field} names the server's provider {provider.name!r}, which uses the server's own key; "
                    "api_key is for endpoints of your own."
                )
            self._check_model(provider, given.model_name, kind)
            return config | {
                type_field: provider.endpoint_type,
                endpoint_field: provider.endpoint,
                "provider": provider.name,
            }
        url = given.endpoint
        if not url:
            raise EndpointRefused(f"{endpoint_field} is missing: name one of the server's providers (GET /api/models).")
        if not self.allow_user:
            raise EndpointRefused(
                f"{endpoint_field} is not one of this server's providers (GET /api/models lists them); "
                "this server calls no other endpoints."
            )
        await self.check(url)
        return config | ({SEALED: self._sealer.seal(key)} if key else {})

    def target(self, config: LLMConfig | EmbeddingConfig, kind: Kind) -> Target:
        """Where a stored agent's calls go, and with which key, as the operator configures it now."""
        _, endpoint_field, _ = FIELDS[kind]
        model = config.model_name or ""
        provider = self._provider(config)
        if provider is not None:
            self._check_model(provider, model, kind)
            return Target(provider.endpoint_type, provider.endpoint, model, provider.api_key, operator=True)
        url = config.endpoint
        if not url:
            raise EndpointRefused(f"The agent's {kind}_config names no endpoint.")
        if not self.allow_user:
            raise EndpointRefused(f"The agent's {endpoint_field} is not one of this server's providers.")
        sealed = config.api_key_sealed
        key = self._sealer.open(sealed) if isinstance(sealed, str) else None
        return Target(config.endpoint_kind, url, model, key, operator=False)

    async def check(self, url: str) -> list[str]:
        """The addresses a user's endpoint resolves to, once every one is allowed."""
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError):
            raise EndpointRefused("The endpoint is not a valid URL.") from None
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise EndpointRefused("The endpoint must be an http:// or https:// URL with a host.")
        if parsed.userinfo:
            raise EndpointRefused("The endpoint may not carry credentials in its URL; give api_key instead.")
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        try:
            found = [ipaddress.ip_address(parsed.host)]
        except ValueError:
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(parsed.host, port, type=socket.SOCK_STREAM)
            except (OSError, UnicodeError):
                raise EndpointRefused("The endpoint's host name does not resolve.") from None
            found = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
        if not found:
            raise EndpointRefused("The endpoint's host name does not resolve.")
        if not self.allow_internal and any(internal(ip) for ip in found):
            raise EndpointRefused(
                "The endpoint resolves to a loopback, private, link-local or otherwise internal address, "
                "which this server does not call."
            )
        return [str(ip) for ip in found]

    async def pinned(self, url: str) -> Pinned:
        """A user's URL rewritten to the address just checked, so the connection goes where the
        check looked (no second resolution), with the right Host and TLS server name."""
        address = (await self.check(url))[0]
        parsed = httpx.URL(url)
        return Pinned(
            str(parsed.copy_with(host=address)),
            {"Host": parsed.netloc.decode("ascii")},
            parsed.host if parsed.scheme == "https" else None,
        )
