async function text(response) {
  return { status: response.status, type: response.headers.get("content-type"), body: await response.text() };
}

export default {
  async fetch(request, env) {
    const path = new URL(request.url).searchParams.get("path") ?? "/";
    const via = new URL(request.url).pathname.slice(1) || "site";
    if (via === "rpc") return Response.json({ greeting: await env.SITE.greet("app") });
    const binding = via === "admin" ? env.ADMIN : env.SITE;
    return Response.json(await text(await binding.fetch(`https://site.example${path}`)));
  },
};
