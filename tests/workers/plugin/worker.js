// PUT/GET /kv/KEY, /r2/KEY; PUT /d1/NAME adds a row, GET /d1 lists them; POST /counter bumps
// a Durable Object that counts in memory and in storage (and keeps notes in SQL); GET
// /log?text=T prints T; GET /boom throws; GET /ws echoes WebSocket messages. scheduled() and
// queue() write to KV.
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
  // Notes in SQL storage, answered from memory once read: stale unless the object starts
  // again after its file changed underneath it.
  notes() {
    if (this.cached === undefined) {
      this.ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS notes (text TEXT)");
      const rows = this.ctx.storage.sql.exec("SELECT text FROM notes ORDER BY rowid").toArray();
      this.cached = rows.map((row) => row.text);
    }
    return this.cached;
  }
  query(sql) {
    return this.ctx.storage.sql.exec(sql).toArray();
  }
  note(text) {
    this.notes();
    this.ctx.storage.sql.exec("INSERT INTO notes (text) VALUES (?)", text);
    this.cached.push(text);
    return this.cached;
  }
}

const TABLE = "CREATE TABLE IF NOT EXISTS notes (name TEXT PRIMARY KEY)";

function echo() {
  const [client, server] = Object.values(new WebSocketPair());
  server.accept();
  server.addEventListener("message", (event) => server.send(`echo: ${event.data}`));
  return new Response(null, { status: 101, webSocket: client });
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const [, area, ...rest] = url.pathname.split("/");
    const key = rest.join("/");
    if (area === "kv" && request.method === "PUT") {
      await env.KV.put(key, await request.text());
      return new Response("stored", { status: 201 });
    }
    if (area === "kv") {
      const value = await env.KV.get(key);
      return value === null ? new Response("no such key", { status: 404 }) : new Response(value);
    }
    if (area === "r2" && request.method === "PUT") {
      const object = await env.BUCKET.put(key, request.body);
      return Response.json({ size: object.size }, { status: 201 });
    }
    if (area === "r2") {
      const object = await env.BUCKET.get(key);
      return object === null ? new Response("no such object", { status: 404 }) : new Response(object.body);
    }
    if (area === "d1") {
      await env.DB.exec(TABLE);
      if (request.method === "PUT") {
        await env.DB.prepare("INSERT INTO notes (name) VALUES (?)").bind(key).run();
        return new Response("added", { status: 201 });
      }
      const { results } = await env.DB.prepare("SELECT name FROM notes ORDER BY name").all();
      return Response.json(results.map((row) => row.name));
    }
    if (area === "counter") {
      return Response.json(await env.COUNTER.get(env.COUNTER.idFromName("one")).bump());
    }
    if (area === "log") {
      console.log(url.searchParams.get("text"));
      return new Response("logged");
    }
    if (area === "boom") throw new Error("the Worker blew up");
    if (area === "ws") return echo();
    return new Response("no route", { status: 404 });
  },
  async scheduled(controller, env) {
    await env.KV.put("scheduled", JSON.stringify({ cron: controller.cron }));
  },
  async queue(batch, env) {
    for (const message of batch.messages) {
      if (message.body.retry) {
        message.retry();
      } else {
        await env.KV.put(`queued:${message.body.id}`, batch.queue);
        message.ack();
      }
    }
  },
};
