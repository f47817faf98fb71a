import { EmailMessage } from "cloudflare:email";

// email(): subjects "reject" and "forward" and "reply" do that; every message is recorded.
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === "/seen") return new Response(await env.SEEN.get("last"));
    const binding = env[url.searchParams.get("binding") ?? "EMAIL"];
    const input = await request.json();
    try {
      const sent =
        url.pathname === "/send"
          ? await binding.send(new EmailMessage(input.from, input.to, input.raw))
          : await binding.send(input);
      return Response.json({ ok: sent });
    } catch (error) {
      return Response.json({ error: { name: error.name, message: error.message } });
    }
  },
  async email(message, env) {
    const raw = await new Response(message.raw).text();
    const subject = message.headers.get("subject");
    await env.SEEN.put("last", JSON.stringify({ from: message.from, to: message.to, subject, size: message.rawSize, raw }));
    if (subject === "reject") message.setReject("no thanks");
    if (subject === "forward") await message.forward("archive@example.com");
    if (subject === "reply") {
      const reply = [
        `From: ${message.to}`,
        `To: ${message.from}`,
        "Subject: re",
        "Message-ID: <reply@example.com>",
        `In-Reply-To: ${message.headers.get("message-id")}`,
        "",
        "got it",
      ].join("\r\n");
      await message.reply(new EmailMessage(message.to, message.from, reply));
    }
  },
};
