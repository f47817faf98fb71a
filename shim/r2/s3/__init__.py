"""R2's S3-compatible API (docs/api.md)."""
