// Durable Objects: one on the key-value storage API, one on SQL; both keep an alarm log.
import { DurableObject } from "cloudflare:workers";

export class KvCounter extends DurableObject {
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname.endsWith("/alarm")) {
      const at = Number(url.searchParams.get("at"));
      if (at) await this.ctx.storage.setAlarm(at);
      return Response.json({
        alarm: await this.ctx.storage.getAlarm(),
        fired: (await this.ctx.storage.get("fired")) ?? [],
      });
    }
    const value = await this.ctx.storage.transaction(async (txn) => {
      const next = ((await txn.get("count")) ?? 0) + 1;
      await txn.put("count", next);
      return next;
    });
    const keys = [...(await this.ctx.storage.list()).keys()];
    return Response.json({ count: value, keys, id: this.ctx.id.toString() });
  }

  async alarm() {
    const fired = (await this.ctx.storage.get("fired")) ?? [];
    fired.push(Date.now());
    await this.ctx.storage.put("fired", fired);
  }
}

export class SqlCounter extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS hits (id INTEGER PRIMARY KEY, at TEXT)");
  }

  async fetch() {
    this.ctx.storage.sql.exec("INSERT INTO hits (at) VALUES (datetime('now'))");
    const [{ count }] = this.ctx.storage.sql.exec("SELECT count(*) AS count FROM hits").toArray();
    return Response.json({ count, dbSize: this.ctx.storage.sql.databaseSize > 0 });
  }
}
