"""Email: the send_email outbox (.eml files) and its CLI listing (docs/bindings.md)."""
