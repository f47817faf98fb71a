// PUT /NAME writes NAME everywhere (D1 row, KV value, R2 object of ?size bytes);
// DELETE /NAME deletes it; GET /state reads everything; POST /bump bumps the counter.
import { DurableObject } from "cloudflare:workers";

export class Counter extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    this.inMemory = 0;
  }
  async bump() {
    this.inMemory++;
    const stored = ((await this.ctx.storage.get("count")) ?? 0) + 1;
    await this.ctx.storage.put("count", stored);
    return { inMemory: this.inMemory, stored };
  }
}

async function state(env) {
  await env.DB.exec("CREATE TABLE IF NOT EXISTS names (name TEXT PRIMARY KEY, value TEXT)");
  const { results } = await env.DB.prepare("SELECT name, value FROM names ORDER BY name").all();
  const kv = await env.KV.list();
  const kvValues = {};
  for (const key of kv.keys) kvValues[key.name] = await env.KV.get(key.name);
  const listed = await env.BUCKET.list();
  const r2 = {};
  for (const object of listed.objects) {
    const body = await (await env.BUCKET.get(object.key)).text();
    r2[object.key] = { size: object.size, head: body.slice(0, 12) };
  }
  return { d1: results, kv: kvValues, r2 };
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const name = url.pathname.slice(1);
    if (request.method === "GET" && name === "state") return Response.json(await state(env));
    if (request.method === "POST" && name === "bump") {
      return Response.json(await env.COUNTER.get(env.COUNTER.idFromName("one")).bump());
    }
    await env.DB.exec("CREATE TABLE IF NOT EXISTS names (name TEXT PRIMARY KEY, value TEXT)");
    if (request.method === "PUT") {
      const value = url.searchParams.get("value") ?? name;
      const size = Number(url.searchParams.get("size") ?? 100);
      await env.DB.prepare("INSERT OR REPLACE INTO names VALUES (?, ?)").bind(name, value).run();
      await env.KV.put(name, value);
      await env.BUCKET.put(name, (value + ":").padEnd(size, "x"));
      return new Response("put");
    }
    if (request.method === "DELETE") {
      await env.DB.prepare("DELETE FROM names WHERE name = ?").bind(name).run();
      await env.KV.delete(name);
      await env.BUCKET.delete(name);
      return new Response("deleted");
    }
    return new Response("no route", { status: 404 });
  },
};
