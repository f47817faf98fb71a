// Queue benchmark Worker. POST /send?id=X sends one message; POST /burst?n=N&prefix=P sends N
// messages (sendBatch, 100 at a time). queue() posts each batch's ids to SINK, where the
// benchmark records when each arrived. Answers {"n", "checksum"}.

async function send(env, url) {
  await env.JOBS.send({ id: url.searchParams.get("id") });
  return { n: 1, checksum: 1 };
}

async function burst(env, url) {
  const n = Number(url.searchParams.get("n"));
  const prefix = url.searchParams.get("prefix");
  for (let start = 0; start < n; start += 100) {
    const batch = [];
    for (let i = start; i < Math.min(n, start + 100); i++) batch.push({ body: { id: `${prefix}-${i}` } });
    await env.JOBS.sendBatch(batch);
  }
  return { n, checksum: n };
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    try {
      if (url.pathname === "/send") return Response.json(await send(env, url));
      if (url.pathname === "/burst") return Response.json(await burst(env, url));
      return new Response("not found", { status: 404 });
    } catch (error) {
      return Response.json({ error: String(error.stack ?? error) }, { status: 500 });
    }
  },
  async queue(batch, env) {
    const ids = batch.messages.map((message) => message.body.id);
    try {
      const answer = await fetch(env.SINK, { method: "POST", body: JSON.stringify(ids) });
      await answer.arrayBuffer();
    } catch (error) {
      console.error(`queue(): posting ${ids.length} ids to the sink failed: ${error}`);
      throw error;
    }
  },
};
