// In front of each Worker on its port (workerd_config/edge.py): answers wrangler's local
// trigger routes itself, so the Worker never sees them, and passes everything else on.
//
//   /cdn-cgi/handler/scheduled?cron=C&time=MS[&format=json]  (and /__scheduled)
//     runs the Worker's scheduled() with that cron and scheduledTime (default: now);
//     answers its outcome ("ok", or "exception" with status 500), or the JSON result.
//   POST /cdn-cgi/handler/email?from=A&to=B[&format=json]  with a raw email as the body
//     runs the Worker's email() with it, as Email Routing would deliver it; answers whether
//     the Worker accepted it (200) or rejected it (400, its reason), or, with format=json,
//     the outcome and what it forwarded and replied.

const SCHEDULED = new Set(["/cdn-cgi/handler/scheduled", "/__scheduled"]);
const EMAIL = "/cdn-cgi/handler/email";
// Production's largest email.
const MAX_EMAIL_BYTES = 25 * 1024 * 1024;
const CALLBACK_GRACE_MS = 25;

async function scheduled(url, env) {
  const time = url.searchParams.get("time");
  const result = await env.WORKER.scheduled({
    cron: url.searchParams.get("cron") ?? "",
    scheduledTime: time === null ? new Date() : new Date(Number(time)),
  });
  if (url.searchParams.get("format") === "json") return Response.json(result);
  return new Response(result.outcome, { status: result.outcome === "ok" ? 200 : 500 });
}

// The header block of a raw message, unfolded, as Headers.
function headersOf(raw) {
  const text = new TextDecoder().decode(raw);
  const end = text.search(/\r?\n\r?\n/);
  const headers = new Headers();
  for (const line of (end < 0 ? text : text.slice(0, end)).replace(/\r?\n[ \t]+/g, " ").split(/\r?\n/)) {
    const colon = line.indexOf(":");
    if (colon > 0) headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  return headers;
}

async function email(request, url, env) {
  const from = url.searchParams.get("from");
  const to = url.searchParams.get("to");
  if (!from || !to || request.body === null) {
    return new Response(
      "Invalid email. Your request must include URL parameters specifying the `from` and `to` addresses, as well as an email in the body",
      { status: 400 },
    );
  }
  const raw = new Uint8Array(await request.arrayBuffer());
  if (raw.byteLength > MAX_EMAIL_BYTES) {
    return new Response("Email message size is bigger than the production size limit of 25MiB.", {
      status: 400,
    });
  }
  const headers = headersOf(raw);
  if (!headers.has("message-id")) {
    return new Response("Email could not be parsed: invalid or no message id provided", {
      status: 400,
    });
  }
  let rejected;
  const forwards = [];
  const replies = [];
  const message = {
    from,
    to,
    raw: new Response(raw).body,
    rawSize: raw.byteLength,
    headers,
    setReject(reason) {
      rejected = reason;
    },
    async forward(recipient, extra) {
      const messageId = `<${crypto.randomUUID()}@groundflare.local>`;
      forwards.push({ recipient, headers: extra ? [...new Headers(extra)] : [], messageId });
      return { messageId };
    },
    async reply(reply) {
      const messageId = `<${crypto.randomUUID()}@groundflare.local>`;
      const text = await new Response(reply.raw).text();
      replies.push({ from: reply.from, to: reply.to, raw: text, messageId });
      return { messageId };
    },
  };
  let outcome = "ok";
  try {
    await env.WORKER.email(message);
  } catch (error) {
    outcome = "exception";
    console.error(error);
  }
  // setReject() is synchronous in production; here it is an RPC call back to this Worker,
  // which may land just after email() returned: let those calls arrive.
  await scheduler.wait(CALLBACK_GRACE_MS);
  if (url.searchParams.get("format") === "json") {
    return Response.json({ outcome, rejected: rejected ?? null, forwards, replies });
  }
  if (outcome !== "ok") return new Response("Worker threw while processing email", { status: 500 });
  if (rejected !== undefined) {
    return new Response(`Worker rejected email with the following reason: ${rejected}`, {
      status: 400,
    });
  }
  return new Response("Worker successfully processed email");
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (SCHEDULED.has(url.pathname)) return scheduled(url, env);
    if (url.pathname === EMAIL && request.method === "POST") return email(request, url, env);
    return env.NEXT.fetch(request);
  },
};
