"""The Secrets Store: secrets kept encrypted with the install's key (docs/bindings.md)."""
