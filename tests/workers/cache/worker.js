// Steps:
//   {op: "put", url, cache?, status?, headers?, body?, size?, stream?, requestHeaders?}
//     (size: a body of that many "x"; stream: that many bytes streamed in 1 MiB pieces)
//   {op: "match", url, cache?, requestHeaders?}  -> {status, headers, body} or null
//   {op: "delete", url, cache?}                  -> true / false
// Each step answers {ok: result} or {error: {name, message}}.
function streamed(total) {
  const piece = new Uint8Array(1024 * 1024);
  let left = total;
  return new ReadableStream({
    pull(controller) {
      if (left <= 0) return controller.close();
      const next = piece.subarray(0, Math.min(piece.length, left));
      left -= next.length;
      controller.enqueue(next);
    },
  });
}

async function run(step) {
  const cache = step.cache === undefined ? caches.default : await caches.open(step.cache);
  const request = new Request(step.url, { headers: step.requestHeaders ?? {} });
  if (step.op === "put") {
    const body =
      step.stream !== undefined
        ? streamed(step.stream)
        : step.size === undefined
          ? (step.body ?? "")
          : "x".repeat(step.size);
    const response = new Response(body, { status: step.status ?? 200, headers: step.headers ?? {} });
    return cache.put(request, response);
  }
  if (step.op === "match") {
    const found = await cache.match(request);
    if (found === undefined) return null;
    return {
      status: found.status,
      headers: Object.fromEntries(found.headers),
      body: await found.text(),
    };
  }
  if (step.op === "delete") return cache.delete(request);
  throw new Error(`unknown op ${step.op}`);
}

export default {
  async fetch(request) {
    const results = [];
    for (const step of await request.json()) {
      try {
        results.push({ ok: (await run(step)) ?? null });
      } catch (error) {
        results.push({ error: { name: error.name, message: error.message } });
      }
    }
    return Response.json(results);
  },
};
