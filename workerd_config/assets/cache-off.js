// The Cache API under --no-cache (workerd_config/cache.py): every match() misses, every
// put() is dropped, every delete() finds nothing. workerd has no cache unless one is named.
export default {
  async fetch(request) {
    if (request.method === "GET") {
      return new Response(null, { status: 504, headers: { "cf-cache-status": "MISS" } });
    }
    if (request.method === "PUT") {
      await request.body?.pipeTo(new WritableStream());
      return new Response(null, { status: 413 });
    }
    return new Response(null, { status: 404 });
  },
};
