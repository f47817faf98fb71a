"""groundflare: a Cloudflare Workers control plane on one machine, offline."""
