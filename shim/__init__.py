"""The storage service workerd's D1/KV/R2 bindings talk to, over one unix socket."""
