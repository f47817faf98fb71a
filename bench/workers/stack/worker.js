// Cold-start benchmark Worker: one of each binding. GET / touches every one once, so the
// benchmark can check, off the clock, that the stack it timed really serves them.

import { DurableObject } from "cloudflare:workers";

export class Counter extends DurableObject {
  async increment() {
    const count = ((await this.ctx.storage.get("count")) ?? 0) + 1;
    await this.ctx.storage.put("count", count);
    return count;
  }
}

export default {
  async fetch(request, env) {
    try {
      const row = await env.DB.prepare("SELECT 1 AS one").first();
      await env.KV.put("k", "v");
      const kv = await env.KV.get("k");
      await env.BUCKET.put("o", "body");
      const r2 = await (await env.BUCKET.get("o")).text();
      const count = await env.COUNTER.get(env.COUNTER.idFromName("cold")).increment();
      const ok = row.one === 1 && kv === "v" && r2 === "body" && count >= 1;
      return Response.json({ n: 1, checksum: ok ? 1 : 0 });
    } catch (err) {
      return Response.json({ error: String(err && err.stack ? err.stack : err) }, { status: 500 });
    }
  },
};
