"""The REST listener: Cloudflare's v4 API, signed URLs and R2's S3 API (docs/api.md)."""

from groundflare.shim.api.listener import API_LIMITS, Api, local_hosts

__all__ = ["API_LIMITS", "Api", "local_hosts"]
