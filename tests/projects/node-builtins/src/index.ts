import { AsyncLocalStorage } from "node:async_hooks";
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { EventEmitter } from "events";
import { join } from "path";
import hashId from "hash-id";

const requestId = new AsyncLocalStorage<string>();

function current(): string {
  return requestId.getStore() ?? "none";
}

export default {
  async fetch(request: Request): Promise<Response> {
    const name = new URL(request.url).searchParams.get("name") ?? "groundflare";
    const events = new EventEmitter();
    let heard = "";
    events.on("greet", (who: string) => {
      heard = who;
    });
    events.emit("greet", name);
    return requestId.run(`req-${name}`, async () =>
      Response.json({
        base64: Buffer.from(name).toString("base64"),
        sha1: createHash("sha1").update(name).digest("hex"),
        heard,
        path: join("/data", name, "file.txt"),
        id: hashId(name),
        store: current(),
      }),
    );
  },
};
