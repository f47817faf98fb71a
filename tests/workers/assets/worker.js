export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === "/api") return Response.json({ from: "worker", method: request.method });
    if (url.pathname === "/via-binding") return env.ASSETS.fetch(new URL("/style.css", url));
    if (url.pathname === "/via-binding-missing") return env.ASSETS.fetch(new URL("/gone", url));
    return new Response(`worker saw ${request.method} ${url.pathname}`, { status: 404 });
  },
};
