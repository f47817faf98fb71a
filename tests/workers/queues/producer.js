// Sends what the test describes and answers what the queue binding returned or threw.
// `kind` builds bodies JSON cannot carry: bytes (a Uint8Array) and v8 (a Map holding a Date
// and a BigInt).
function build(kind, body) {
  if (kind === "bytes") return new Uint8Array(body);
  if (kind === "v8") return new Map([["when", new Date(body.when)], ["n", BigInt(body.n)]]);
  if (kind === "big") return "x".repeat(body);
  return body;
}

async function attempt(work) {
  try {
    return Response.json({ ok: (await work()) ?? null });
  } catch (error) {
    return Response.json({ error: { name: error.name, message: error.message } });
  }
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const queue = env[url.searchParams.get("binding") ?? "JOBS"];
    if (url.pathname === "/metrics") return attempt(() => queue.metrics());
    const input = await request.json();
    if (url.pathname === "/send") {
      return attempt(() => queue.send(build(input.kind, input.body), input.options));
    }
    if (url.pathname === "/batch") {
      const messages = input.messages.map((m) => ({ ...m, body: build(m.kind, m.body) }));
      return attempt(() => queue.sendBatch(messages, input.options));
    }
    return new Response("not found", { status: 404 });
  },
};
