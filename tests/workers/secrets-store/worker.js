export default {
  async fetch(request, env) {
    const binding = new URL(request.url).searchParams.get("binding") ?? "API_KEY";
    try {
      return Response.json({ ok: await env[binding].get() });
    } catch (error) {
      return Response.json({ error: { name: error.name, message: error.message } });
    }
  },
};
