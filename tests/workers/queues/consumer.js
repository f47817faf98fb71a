// Records each delivery under seen/<queue>/<id>/<attempts> and acts on the body's "do"
// (except on the dead-letter queue, which acknowledges whatever reaches it).
let inFlight = 0;

function describe(value) {
  if (value instanceof Uint8Array) return { type: "Uint8Array", bytes: [...value] };
  if (value instanceof ArrayBuffer) return { type: "ArrayBuffer" };
  if (value instanceof Map) {
    return { type: "Map", entries: [...value].map(([k, v]) => [k, describe(v)]) };
  }
  if (value instanceof Date) return { type: "Date", ms: value.getTime() };
  if (typeof value === "bigint") return { type: "bigint", value: String(value) };
  return { type: typeof value, value };
}

export default {
  async fetch(request, env) {
    const seen = [];
    let cursor;
    do {
      const page = await env.SEEN.list({ prefix: "seen/", cursor });
      for (const key of page.keys) seen.push(JSON.parse(await env.SEEN.get(key.name)));
      cursor = page.list_complete ? undefined : page.cursor;
    } while (cursor);
    seen.sort((a, b) => a.at - b.at);
    return Response.json(seen);
  },
  async queue(batch, env) {
    inFlight += 1;
    const overlap = inFlight;
    try {
      for (const message of batch.messages) {
        const body = message.body;
        await env.SEEN.put(
          `seen/${batch.queue}/${message.id}/${message.attempts}`,
          JSON.stringify({
            queue: batch.queue,
            id: message.id,
            timestamp: message.timestamp.getTime(),
            attempts: message.attempts,
            body: describe(body),
            batch: batch.messages.length,
            overlap,
            at: Date.now() + Math.random(),
          }),
        );
        const dead = batch.queue === "jobs-dlq";
        const action = !dead && body && typeof body === "object" ? body.do : undefined;
        if (action === "retry") message.retry();
        if (action === "retry-later") message.retry({ delaySeconds: 30 });
        if (action === "ack") message.ack();
      }
      if (batch.queue === "serial") await scheduler.wait(20);
      const thrower = batch.messages.some((m) => m.body?.do === "throw");
      if (thrower && batch.queue !== "jobs-dlq") throw new Error("consumer failed");
    } finally {
      inFlight -= 1;
    }
  },
};
