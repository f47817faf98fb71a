// The stack's internal door (contracts/door.py): the supervisor, the shim and test
// harnesses call into the Workers through here. It listens only on a unix socket in the
// private run/ folder, and every request must carry the per-boot token.
//
//   POST /workers/NAME/scheduled  {"cron", "scheduled_time"}  -> Fetcher.scheduled()
//   POST /workers/NAME/queue      {"queue", "messages"}        -> Fetcher.queue()
//   ANY  /workers/NAME/fetch/PATH                               -> Fetcher.fetch()
//   POST /workers/NAME/bindings/BINDING/OP                      -> the Worker's binding
//        (bindings.js, for groundflare.bindings); GET /bindings lists them by Worker,
//        GET /resources names the bindings behind each shim resource tag,
//        GET /durable-objects the v4 namespace id behind each Durable Object binding
//   POST /log  TEXT                                             -> console.log(TEXT): a mark
//        in workerd's log, so a test harness knows all output before it has been written
//   POST /durable-objects/abort | /durable-objects/delete       -> workerd:unsafe, for
//        snapshots: every instance aborted (memory gone, file closed), or storage deleted too

import unsafe from "workerd:unsafe";

const encoder = new TextEncoder();

function sameToken(presented, expected) {
  const a = encoder.encode(presented);
  const b = encoder.encode(expected);
  return a.byteLength === b.byteLength && crypto.subtle.timingSafeEqual(a, b);
}

function bytes(base64) {
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
}

// A message as the door carries it (contracts/door.py QueueMessage) -> as Fetcher.queue()
// takes it: bytes arrive as a Uint8Array, v8 as `serializedBody`, which workerd deserializes
// into the value that was sent, as production's consumer receives it.
function queueMessage(m) {
  const message = { id: m.id, timestamp: new Date(m.timestamp), attempts: m.attempts };
  if (m.content_type === "v8") return { ...message, serializedBody: bytes(m.body) };
  if (m.content_type === "bytes") return { ...message, body: bytes(m.body) };
  return { ...message, body: m.body };
}

function problem(status, message) {
  return Response.json({ error: message }, { status });
}

export default {
  async fetch(request, env) {
    if (!sameToken(request.headers.get(env.HEADER) ?? "", env.TOKEN)) {
      return problem(403, "missing or invalid door token");
    }
    const url = new URL(request.url);
    if (url.pathname === "/durable-objects/abort" && request.method === "POST") {
      await unsafe.abortAllDurableObjects();
      return Response.json({});
    }
    if (url.pathname === "/durable-objects/delete" && request.method === "POST") {
      await unsafe.deleteAllDurableObjects();
      return Response.json({});
    }
    if (url.pathname === "/bindings" && request.method === "GET") {
      return Response.json(env.BINDINGS);
    }
    if (url.pathname === "/resources" && request.method === "GET") {
      return Response.json(env.RESOURCES);
    }
    if (url.pathname === "/durable-objects" && request.method === "GET") {
      return Response.json(env.NAMESPACES);
    }
    if (url.pathname === "/log" && request.method === "POST") {
      console.log(await request.text());
      return Response.json({});
    }
    const proxied = url.pathname.match(/^\/workers\/([^/]+)\/bindings(\/.*)$/);
    if (proxied !== null) {
      const proxy = env.BINDING_PROXIES[decodeURIComponent(proxied[1])];
      if (proxy === undefined) return problem(404, `no Worker named ${proxied[1]} in this stack`);
      const inner = new Request(new URL(proxied[2], "http://bindings"), request);
      inner.headers.delete(env.HEADER);
      return env[proxy].fetch(inner);
    }
    const match = url.pathname.match(/^\/workers\/([^/]+)\/(scheduled|queue|fetch)(\/.*)?$/);
    if (match === null) return problem(404, `no door at ${url.pathname}`);
    const [, name, action, rest] = match;
    const binding = env.WORKERS[decodeURIComponent(name)];
    if (binding === undefined) return problem(404, `no Worker named ${name} in this stack`);
    const target = env[binding];
    if (action === "fetch") {
      const forwarded = new URL((rest ?? "/") + url.search, "http://localhost");
      return target.fetch(new Request(forwarded, request));
    }
    if (request.method !== "POST") return problem(405, `${action} takes POST`);
    const body = await request.json();
    if (action === "scheduled") {
      const result = await target.scheduled({
        cron: body.cron,
        scheduledTime: new Date(body.scheduled_time),
      });
      return Response.json(result);
    }
    return Response.json(await target.queue(body.queue, body.messages.map(queueMessage)));
  },
};
