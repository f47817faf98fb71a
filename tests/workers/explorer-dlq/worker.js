// POST /send?body=...: one message onto explorer-tasks. GET /seen: every delivery
// (id, attempts). POST /multipart?key=...: an upload begun with two parts, not completed.
// POST /part?key=...&upload=...: one more part of that upload (or the error it gets).
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === "/send") {
      await env.TASKS.send({ task: url.searchParams.get("body") });
      return Response.json({ sent: true });
    }
    if (url.pathname === "/seen") {
      const listed = await env.SEEN.list({ prefix: "seen/" });
      const seen = [];
      for (const key of listed.keys) seen.push(JSON.parse(await env.SEEN.get(key.name)));
      return Response.json(seen);
    }
    const key = url.searchParams.get("key");
    if (url.pathname === "/multipart") {
      const upload = await env.BUCKET.createMultipartUpload(key);
      await upload.uploadPart(1, "a".repeat(3000));
      await upload.uploadPart(2, "b".repeat(1000));
      return Response.json({ uploadId: upload.uploadId });
    }
    if (url.pathname === "/part") {
      const upload = env.BUCKET.resumeMultipartUpload(key, url.searchParams.get("upload"));
      try {
        await upload.uploadPart(3, "c");
        return Response.json({ error: null });
      } catch (err) {
        return Response.json({ error: String(err) });
      }
    }
    return new Response("not found", { status: 404 });
  },
  async queue(batch, env) {
    for (const message of batch.messages) {
      await env.SEEN.put(
        `seen/${message.id}/${message.attempts}/${Date.now()}`,
        JSON.stringify({ id: message.id, attempts: message.attempts }),
      );
    }
    throw new Error("this consumer always fails");
  },
};
