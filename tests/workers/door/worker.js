// scheduled() and queue() write what they were given to KV; GET /seen/NAME reads it back.
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname.startsWith("/seen/")) {
      return new Response(await env.SEEN.get(url.pathname.slice(6)), {
        headers: { "content-type": "application/json" },
      });
    }
    return Response.json({ path: url.pathname, search: url.search, method: request.method });
  },
  async scheduled(controller, env) {
    await env.SEEN.put(
      "scheduled",
      JSON.stringify({ cron: controller.cron, scheduledTime: controller.scheduledTime }),
    );
  },
  async queue(batch, env) {
    await env.SEEN.put(
      "queue",
      JSON.stringify({ queue: batch.queue, bodies: batch.messages.map((m) => m.body) }),
    );
    batch.messages[0].ack();
    for (const message of batch.messages.slice(1)) message.retry();
  },
};
