// scheduled() records {cron, scheduledTime}; GET /fired lists what was recorded, in order.
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname !== "/fired") return new Response("the Worker saw " + url.pathname, { status: 404 });
    const listed = await env.FIRED.list();
    const fired = await Promise.all(listed.keys.map((key) => env.FIRED.get(key.name, "json")));
    return Response.json(fired.sort((a, b) => a.scheduledTime - b.scheduledTime || a.cron.localeCompare(b.cron)));
  },
  async scheduled(controller, env) {
    if (controller.cron === "throw") throw new Error("scheduled() failed on purpose");
    const record = { cron: controller.cron, scheduledTime: controller.scheduledTime };
    await env.FIRED.put(`${controller.scheduledTime}:${controller.cron}`, JSON.stringify(record));
  },
};
