"""The sandbox proxy: the frontend's only door to the sandbox in the VM.

`python -m groundflare.proxy --listen-fd N --upstream HOST:PORT [--cors-origin O ...]`

The frontend proves itself with the per-boot surface token (header
`X-Groundflare-Surface`, or for browsers opening WebSockets a cookie obtained
through a one-time ticket URL); the upstream sees the sandbox's internal token
instead (`X-Groundflare-Sandbox`), never the surface one. Bodies stream both
ways, WebSocket upgrades and server-sent events pass through, hop-by-hop
headers are dropped, and CORS stays closed unless the profile lists an origin.
Tokens arrive in the environment, never argv.
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import logging
import os
import secrets
import signal
import socket
import sys
import time

import aiohttp
from aiohttp import web
from multidict import CIMultiDictProxy

from groundflare.proxy_contract import (
    SANDBOX_HEADER,
    SANDBOX_TOKEN_ENV,
    SURFACE_HEADER,
    SURFACE_TOKEN_ENV,
)

log = logging.getLogger("proxy")

COOKIE = "groundflare_surface"
TICKET_PATH = "/_groundflare/ticket"
LOGIN_PATH = "/_groundflare/login"
TICKET_SECONDS = 60.0
CHUNK = 256 * 1024
# RFC 9110 §7.6.1, plus the headers that carry our own tokens.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        SURFACE_HEADER.lower(),
        SANDBOX_HEADER.lower(),
        "cookie",
    }
)


def forwardable(headers: CIMultiDictProxy[str], extra_hop: set[str]) -> dict[str, str]:
    """Headers minus hop-by-hop ones (including any a Connection header names)."""
    out: dict[str, str] = {}
    for name, value in headers.items():
        lower = name.lower()
        if lower not in HOP_BY_HOP and lower not in extra_hop:
            out[name] = value
    return out


def connection_listed(headers: CIMultiDictProxy[str]) -> set[str]:
    listed = headers.get("Connection", "")
    return {item.strip().lower() for item in listed.split(",") if item.strip()}


class Proxy:
    def __init__(
        self, upstream: str, surface_token: str, sandbox_token: str, origins: list[str]
    ) -> None:
        self.upstream = upstream
        self._surface = surface_token.encode()
        self._sandbox_token = sandbox_token
        self._origins = set(origins)
        self._tickets: dict[str, float] = {}
        self._sessions: set[str] = set()
        self._client: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._client = aiohttp.ClientSession(
            auto_decompress=False,
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
            connector=aiohttp.TCPConnector(limit=0, force_close=False),
        )

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()

    # ---- authentication ----

    def _authenticated(self, request: web.Request) -> bool:
        presented = request.headers.get(SURFACE_HEADER, "").encode()
        if presented and hmac.compare_digest(presented, self._surface):
            return True
        session = request.cookies.get(COOKIE)
        return session is not None and session in self._sessions

    def _issue_ticket(self) -> str:
        now = time.monotonic()
        self._tickets = {t: exp for t, exp in self._tickets.items() if exp > now}
        ticket = secrets.token_urlsafe(32)
        self._tickets[ticket] = now + TICKET_SECONDS
        return ticket

    async def ticket(self, request: web.Request) -> web.Response:
        """POST with the surface token -> a single-use URL that sets the session cookie."""
        if request.method != "POST" or not self._authenticated(request):
            return self._unauthorized()
        return web.json_response({"url": f"{LOGIN_PATH}?ticket={self._issue_ticket()}"})

    async def login(self, request: web.Request) -> web.Response:
        ticket = request.query.get("ticket", "")
        expiry = self._tickets.pop(ticket, None)
        if expiry is None or expiry < time.monotonic():
            return self._unauthorized()
        session = secrets.token_urlsafe(32)
        self._sessions.add(session)
        response = web.Response(status=204)
        response.set_cookie(COOKIE, session, httponly=True, samesite="Strict", path="/")
        return response

    @staticmethod
    def _unauthorized() -> web.Response:
        return web.json_response(
            {"error": f"missing or invalid {SURFACE_HEADER} (or session cookie)"}, status=401
        )

    # ---- CORS ----

    def _cors(self, request: web.Request, response: web.StreamResponse) -> None:
        origin = request.headers.get("Origin")
        if origin and origin in self._origins:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Allow-Credentials"] = "true"
            response.headers["Vary"] = "Origin"

    def _preflight(self, request: web.Request) -> web.Response:
        origin = request.headers.get("Origin")
        if not origin or origin not in self._origins:
            return web.Response(status=403, text="CORS origin not allowed")
        response = web.Response(status=204)
        self._cors(request, response)
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = request.headers.get(
            "Access-Control-Request-Headers", SURFACE_HEADER
        )
        response.headers["Access-Control-Max-Age"] = "600"
        return response

    # ---- forwarding ----

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.path == TICKET_PATH:
            return await self.ticket(request)
        if request.path == LOGIN_PATH:
            return await self.login(request)
        if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            return self._preflight(request)
        if not self._authenticated(request):
            return self._unauthorized()
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._websocket(request)
        return await self._http(request)

    def _upstream_headers(self, request: web.Request) -> dict[str, str]:
        headers = forwardable(request.headers, connection_listed(request.headers))
        headers[SANDBOX_HEADER] = self._sandbox_token
        headers["X-Forwarded-Proto"] = "http"
        return headers

    async def _http(self, request: web.Request) -> web.StreamResponse:
        assert self._client is not None
        body = request.content if request.body_exists else None
        try:
            upstream = await self._client.request(
                request.method,
                f"http://{self.upstream}{request.rel_url}",
                headers=self._upstream_headers(request),
                data=body,
                allow_redirects=False,
            )
        except aiohttp.ClientError as exc:
            return web.json_response({"error": f"sandbox unreachable: {exc}"}, status=502)
        async with upstream:
            response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
            response.headers.update(
                forwardable(upstream.headers, connection_listed(upstream.headers))
            )
            self._cors(request, response)
            if upstream.content_length is not None:
                response.content_length = upstream.content_length
            await response.prepare(request)
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
            return response

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        assert self._client is not None
        headers = self._upstream_headers(request)
        for name in ("Sec-WebSocket-Key", "Sec-WebSocket-Version", "Sec-WebSocket-Extensions"):
            headers.pop(name, None)
        protocols = [
            p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p
        ]
        headers.pop("Sec-WebSocket-Protocol", None)
        try:
            upstream = await self._client.ws_connect(
                f"ws://{self.upstream}{request.rel_url}",
                headers=headers,
                protocols=protocols,
                autoping=False,
            )
        except (aiohttp.ClientError, aiohttp.WSServerHandshakeError) as exc:
            return web.json_response({"error": f"sandbox refused the WebSocket: {exc}"}, status=502)
        downstream = web.WebSocketResponse(
            protocols=[upstream.protocol] if upstream.protocol else (), autoping=False
        )
        self._cors(request, downstream)
        await downstream.prepare(request)
        await asyncio.gather(_pump(downstream, upstream), _pump(upstream, downstream))
        return downstream


async def _pump(
    source: web.WebSocketResponse | aiohttp.ClientWebSocketResponse,
    target: web.WebSocketResponse | aiohttp.ClientWebSocketResponse,
) -> None:
    """Relay frames one way until either side closes, then close the other."""
    async for message in source:
        if message.type == aiohttp.WSMsgType.TEXT:
            await target.send_str(message.data)
        elif message.type == aiohttp.WSMsgType.BINARY:
            await target.send_bytes(message.data)
        elif message.type == aiohttp.WSMsgType.PING:
            await target.ping(message.data)
        elif message.type == aiohttp.WSMsgType.PONG:
            await target.pong(message.data)
    if not target.closed:
        await target.close(code=source.close_code or 1000)


async def serve(args: argparse.Namespace, surface: str, sandbox: str) -> None:
    proxy = Proxy(args.upstream, surface, sandbox, args.cors_origin)
    await proxy.start()
    app = web.Application()
    app.router.add_route("*", "/{path:.*}", proxy.handle)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    listener = socket.socket(fileno=args.listen_fd)
    site = web.SockSite(runner, listener)
    await site.start()
    if args.control_fd is not None:
        os.write(args.control_fd, b'{"event":"listen","socket":"sandbox"}\n')
        os.close(args.control_fd)
    log.info("forwarding to %s", args.upstream)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await runner.cleanup()
    await proxy.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m groundflare.proxy")
    parser.add_argument("--listen-fd", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="HOST:PORT of the sandbox")
    parser.add_argument("--cors-origin", action="append", default=[])
    parser.add_argument("--control-fd", type=int)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    surface = os.environ.pop(SURFACE_TOKEN_ENV, "")
    sandbox = os.environ.pop(SANDBOX_TOKEN_ENV, "")
    if not surface or not sandbox:
        sys.exit(f"proxy: ${SURFACE_TOKEN_ENV} and ${SANDBOX_TOKEN_ENV} must be set")
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(args, surface, sandbox))
    else:
        uvloop.run(serve(args, surface, sandbox))


if __name__ == "__main__":
    main()
