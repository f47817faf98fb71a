// Routes that show what the Worker sees: its bindings, modules and Durable Objects.
import greeting from "./greeting.txt";
import notes from "./notes.md";
import blob from "./blob.bin";
import { Buffer } from "node:buffer";

export { KvCounter, SqlCounter } from "./counters.js";

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const [, kind, name, action] = url.pathname.split("/");
    if (kind === "kv" || kind === "sql") {
      const namespace = kind === "kv" ? env.COUNTER : env.SQL_COUNTER;
      const stub = namespace.get(namespace.idFromName(name));
      return stub.fetch(`http://do/${action ?? ""}${url.search}`);
    }
    if (kind === "vars") {
      return Response.json({
        TEXT: env.TEXT,
        NUMBER: env.NUMBER,
        FLAG: env.FLAG,
        OBJECT: env.OBJECT,
        types: [typeof env.TEXT, typeof env.NUMBER, typeof env.FLAG, typeof env.OBJECT],
      });
    }
    if (kind === "secret") return Response.json({ API_KEY: env.API_KEY ?? null });
    if (kind === "modules") {
      return Response.json({
        greeting,
        notes,
        blob: [...new Uint8Array(blob)],
        buffer: Buffer.from("node compat").toString("base64"),
      });
    }
    if (kind === "service") return env.AUX.fetch("http://aux/hello");
    return new Response("not found", { status: 404 });
  },
};
