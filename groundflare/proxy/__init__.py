"""The sandbox proxy: the frontend's only door to the sandbox in the VM.

`python -m groundflare.proxy --listen-fd N --upstream HOST:PORT [--cors-origin O ...]`

The frontend proves itself with the per-boot surface token (header
`X-Groundflare-Surface`, or for browsers opening WebSockets a cookie obtained
through a one-time ticket URL); the upstream sees the sandbox's internal token
instead (`X-Groundflare-Sandbox`), never the surface one. Bodies stream both
ways, upgrades (WebSocket) become raw byte tunnels, server-sent events pass
through as they are sent, hop-by-hop headers are dropped, and CORS stays closed
unless the profile lists an origin. Tokens arrive over a pipe (`--secrets-fd`),
never in argv or the environment.

A lean HTTP/1.1 relay on asyncio protocols and httptools: the aiohttp server and
client it replaces cost ~0.3 ms of CPU per small request and a third of the
direct download rate. This package's own import stays light; the machinery
loads in `__main__`.
"""

from groundflare.contracts.proxy import SANDBOX_HEADER, SURFACE_HEADER, ProxySecrets

__all__ = ["SANDBOX_HEADER", "SURFACE_HEADER", "ProxySecrets"]
