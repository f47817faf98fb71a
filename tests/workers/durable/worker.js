// PUT /<kv|r2>/<key> stores the body; GET answers with the stored size and SHA-256.
async function digest(stream) {
  const hash = new crypto.DigestStream("SHA-256");
  let size = 0;
  const counter = new TransformStream({
    transform(chunk, controller) {
      size += chunk.byteLength;
      controller.enqueue(chunk);
    },
  });
  await stream.pipeThrough(counter).pipeTo(hash);
  const bytes = new Uint8Array(await hash.digest);
  return { size, sha256: [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("") };
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const [, store, ...rest] = url.pathname.split("/");
    const key = decodeURIComponent(rest.join("/"));
    if (request.method === "PUT") {
      if (store === "kv") await env.KV.put(key, request.body);
      else await env.BUCKET.put(key, request.body);
      return new Response("stored");
    }
    const value = store === "kv" ? await env.KV.get(key, "stream") : (await env.BUCKET.get(key))?.body;
    if (!value) return new Response("missing", { status: 404 });
    return Response.json(await digest(value));
  },
};
