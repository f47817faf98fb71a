// Durable Object storage limits: PUT /<sql|kv>/<bytes> stores a string of that many one-byte
// characters in an object of a SQLite-backed (sql) or key-value-backed (kv) class and answers
// {"stored": true} or the error the put threw.
import { DurableObject } from "cloudflare:workers";

class Store extends DurableObject {
  async fetch(request) {
    const size = Number(new URL(request.url).pathname.split("/").pop());
    try {
      await this.ctx.storage.put("value", "x".repeat(size));
      return Response.json({ stored: true });
    } catch (err) {
      return Response.json({ stored: false, name: err.name, message: err.message });
    }
  }
}

export class SqlStore extends Store {}
export class KvStore extends Store {}

export default {
  async fetch(request, env) {
    const [, kind] = new URL(request.url).pathname.split("/");
    const namespace = kind === "sql" ? env.SQL_STORE : env.KV_STORE;
    return namespace.get(namespace.idFromName("limits")).fetch(request);
  },
};
