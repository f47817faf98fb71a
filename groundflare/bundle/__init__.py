"""The sidecar bundle: a frozen groundflare with workerd (and optionally the VM image) in one
relocatable folder, for a desktop app's installer (docs/desktop.md)."""
