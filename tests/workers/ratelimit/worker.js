// GET /limit?binding=B&key=K -> what env[B].limit({key}) answered, or the error it threw;
// POST /limit?binding=B with a JSON body passes that body as the options instead.
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const limiter = env[url.searchParams.get("binding") ?? "PER_MINUTE"];
    const options =
      request.method === "POST" ? await request.json() : { key: url.searchParams.get("key") };
    try {
      return Response.json({ ok: await limiter.limit(options) });
    } catch (error) {
      return Response.json({ error: { name: error.name, message: error.message } });
    }
  },
};
