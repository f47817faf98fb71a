// POST /run {"command", "file"?}: creates a session in the sandbox, runs the command there
// and streams its output back as it comes (the sandbox's server-sent events, relayed);
// GET /file?path=: a file from the sandbox. /binding: what env says about the sandbox.
function sandbox(env, path, init = {}) {
  const headers = { ...(init.headers || {}), Authorization: `Bearer ${env.SANDBOX_INTERNAL_TOKEN}` };
  return fetch(new URL(path, env.SANDBOX_URL), { ...init, headers });
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === "/binding") {
      return Response.json({
        url: env.SANDBOX_URL,
        token: typeof env.SANDBOX_INTERNAL_TOKEN === "string" ? env.SANDBOX_INTERNAL_TOKEN.length : null,
      });
    }
    if (url.pathname === "/run" && request.method === "POST") {
      const { command } = await request.json();
      const created = await sandbox(env, "/api/sessions", {
        method: "POST",
        body: JSON.stringify({ cwd: "/workspace" }),
      });
      if (created.status !== 201) return new Response(await created.text(), { status: 502 });
      const { id } = await created.json();
      const run = await sandbox(env, `/api/sessions/${id}/exec`, {
        method: "POST",
        body: JSON.stringify({ command }),
      });
      return new Response(run.body, {
        status: run.status,
        headers: { "content-type": "text/event-stream", "x-session": id },
      });
    }
    if (url.pathname === "/file") {
      const file = await sandbox(env, `/api/files?path=${encodeURIComponent(url.searchParams.get("path"))}`);
      return new Response(file.body, { status: file.status });
    }
    return new Response("not found", { status: 404 });
  },
};
