// The explorer's probe Worker: each route does one thing the request log should show.
//   GET  /hello?name=N   a console line and a D1 query
//   GET  /boom           an uncaught exception
//   GET  /kv?key=K       a KV get
//   PUT  /files/KEY      an R2 put of the body
//   POST /count/NAME     a Durable Object call (its SQLite storage counts)
//   POST /mail           an email sent through send_email
//   GET  /fetch?url=U    a subrequest to U
//   scheduled()          a console line and a KV put
import { EmailMessage } from "cloudflare:email";
import { DurableObject } from "cloudflare:workers";

const MAIL = [
  "From: app@example.com",
  "To: ops@example.com",
  "Subject: explorer probe",
  "Message-ID: <probe@example.com>",
  "",
  "Sent by the explorer's probe.",
].join("\r\n");

export class Counter extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS hits (id INTEGER PRIMARY KEY, at TEXT)");
  }

  async fetch() {
    this.ctx.storage.sql.exec("INSERT INTO hits (at) VALUES (datetime('now'))");
    const [{ n }] = this.ctx.storage.sql.exec("SELECT count(*) AS n FROM hits").toArray();
    return Response.json({ count: n });
  }
}

async function hello(url, env) {
  const name = url.searchParams.get("name") ?? "world";
  console.log(`hello, ${name}`);
  await env.DB.prepare("CREATE TABLE IF NOT EXISTS greetings (name TEXT)").run();
  const row = await env.DB.prepare("SELECT ?1 AS greeting").bind(`hello ${name}`).first();
  return Response.json(row);
}

function explode() {
  throw new Error("the probe exploded on purpose");
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const parts = url.pathname.split("/").filter(Boolean);
    if (url.pathname === "/hello") return hello(url, env);
    if (url.pathname === "/boom") explode();
    if (url.pathname === "/kv") {
      return Response.json({ value: await env.KV.get(url.searchParams.get("key") ?? "") });
    }
    if (parts[0] === "files" && request.method === "PUT") {
      const object = await env.BUCKET.put(parts.slice(1).join("/"), request.body);
      return Response.json({ key: object.key, size: object.size });
    }
    if (parts[0] === "count" && parts[1]) {
      const stub = env.COUNTER.get(env.COUNTER.idFromName(parts[1]));
      return stub.fetch(request);
    }
    if (url.pathname === "/fetch") {
      const answer = await fetch(url.searchParams.get("url"));
      return Response.json({ status: answer.status, body: await answer.text() });
    }
    if (url.pathname === "/mail" && request.method === "POST") {
      await env.MAIL.send(new EmailMessage("app@example.com", "ops@example.com", MAIL));
      return Response.json({ sent: true });
    }
    return new Response("not found", { status: 404 });
  },
  async scheduled(controller, env) {
    console.log(`cron ${controller.cron} ran`);
    await env.KV.put(`cron:${controller.scheduledTime}`, controller.cron);
  },
};
