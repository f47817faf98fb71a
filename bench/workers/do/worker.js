// Durable Object benchmark Worker. Each route makes N sequential increments of one counter
// through a stub (idFromName), by RPC or by fetch, inside one request. The counter lives in
// the object's storage (get + put per increment), so every call reaches storage.
// Returns {"n", "checksum"}: the number of consecutive counts seen, which must equal n.

import { DurableObject } from "cloudflare:workers";

export class Counter extends DurableObject {
  async increment() {
    const count = ((await this.ctx.storage.get("count")) ?? 0) + 1;
    await this.ctx.storage.put("count", count);
    return count;
  }

  async fetch() {
    return new Response(String(await this.increment()));
  }
}

async function rpc(stub, n) {
  let first = 0;
  let last = 0;
  for (let i = 0; i < n; i++) {
    last = await stub.increment();
    if (i === 0) first = last;
  }
  return { n, checksum: last - first + 1 };
}

async function viaFetch(stub, n) {
  let first = 0;
  let last = 0;
  for (let i = 0; i < n; i++) {
    const response = await stub.fetch("http://counter/increment");
    last = Number.parseInt(await response.text(), 10);
    if (i === 0) first = last;
  }
  return { n, checksum: last - first + 1 };
}

const ROUTES = { "/rpc": rpc, "/fetch": viaFetch };

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    try {
      const route = ROUTES[url.pathname];
      if (!route) return Response.json({ error: `no route ${url.pathname}` }, { status: 404 });
      const n = Number.parseInt(url.searchParams.get("n") ?? "1", 10);
      if (!(n > 0)) return Response.json({ error: "n must be a positive integer" }, { status: 400 });
      const stub = env.COUNTER.get(env.COUNTER.idFromName(url.pathname));
      return Response.json(await route(stub, n));
    } catch (err) {
      return Response.json({ error: String(err && err.stack ? err.stack : err) }, { status: 500 });
    }
  },
};
