// In front of each Worker on its port (workerd_config/edge.py): answers wrangler's local
// trigger routes itself, so the Worker never sees them, and passes everything else on.
//
//   /cdn-cgi/handler/scheduled?cron=C&time=MS[&format=json]  (and /__scheduled)
//     runs the Worker's scheduled() with that cron and scheduledTime (default: now);
//     answers its outcome ("ok", or "exception" with status 500), or the JSON result.

const SCHEDULED = new Set(["/cdn-cgi/handler/scheduled", "/__scheduled"]);

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (!SCHEDULED.has(url.pathname)) return env.NEXT.fetch(request);
    const time = url.searchParams.get("time");
    const result = await env.WORKER.scheduled({
      cron: url.searchParams.get("cron") ?? "",
      scheduledTime: time === null ? new Date() : new Date(Number(time)),
    });
    if (url.searchParams.get("format") === "json") return Response.json(result);
    return new Response(result.outcome, { status: result.outcome === "ok" ? 200 : 500 });
  },
};
