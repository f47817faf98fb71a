// One [[send_email]] binding (shim/email/kind.py): send(EmailMessage) or send({from, to,
// subject, text, html, cc, bcc}) checks the binding's allowed senders and destinations, then
// hands the raw message to the shim's outbox, which checks its headers as production does and
// keeps it as an .eml file (`groundflare emails list`). Answers {messageId}.
import { WorkerEntrypoint } from "cloudflare:workers";

function address(value) {
  if (typeof value !== "string") return value.email;
  const angled = value.match(/<([^>]+)>\s*$/);
  return (angled ? angled[1] : value).trim();
}

function shown(value) {
  return typeof value === "string" ? value : `"${value.name}" <${value.email}>`;
}

function list(value) {
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

function built(message) {
  const domain = address(message.from).split("@").pop();
  const lines = [
    `From: ${shown(message.from)}`,
    `To: ${list(message.to).map(shown).join(", ")}`,
    ...(message.cc ? [`Cc: ${list(message.cc).map(shown).join(", ")}`] : []),
    `Subject: ${message.subject ?? ""}`,
    `Message-ID: <${crypto.randomUUID()}@${domain}>`,
    `Date: ${new Date().toUTCString()}`,
    "MIME-Version: 1.0",
  ];
  if (message.html !== undefined && message.text !== undefined) {
    const boundary = crypto.randomUUID();
    lines.push(`Content-Type: multipart/alternative; boundary="${boundary}"`, "");
    for (const [type, body] of [["text/plain", message.text], ["text/html", message.html]]) {
      lines.push(`--${boundary}`, `Content-Type: ${type}; charset=utf-8`, "", body);
    }
    lines.push(`--${boundary}--`);
  } else {
    const html = message.html !== undefined;
    lines.push(`Content-Type: text/${html ? "html" : "plain"}; charset=utf-8`, "");
    lines.push(html ? message.html : (message.text ?? ""));
  }
  return new TextEncoder().encode(lines.join("\r\n"));
}

export class SendEmail extends WorkerEntrypoint {
  check(from, recipients) {
    const rules = this.env.RULES;
    if (rules.allowed_sender_addresses && !rules.allowed_sender_addresses.includes(from)) {
      throw new Error(`email from ${from} not allowed`);
    }
    for (const to of recipients) {
      const fixed = rules.destination_address;
      const allowed = rules.allowed_destination_addresses;
      if ((fixed && to !== fixed) || (allowed && !allowed.includes(to))) {
        throw new Error(`email to ${to} not allowed`);
      }
    }
  }

  async send(message) {
    let from, recipients, raw;
    if (message && typeof message === "object" && "raw" in message) {
      from = message.from;
      recipients = list(message.to);
      raw = new Uint8Array(await new Response(message.raw).arrayBuffer());
    } else {
      from = address(message.from);
      recipients = [...list(message.to), ...list(message.cc), ...list(message.bcc)].map(address);
      raw = built(message);
    }
    this.check(from, recipients);
    const response = await this.env.OUTBOX.fetch("http://outbox/send", {
      method: "POST",
      headers: {
        "x-email-from": from,
        "x-email-to": JSON.stringify(recipients),
        "x-email-binding": this.env.NAME,
      },
      body: raw,
    });
    if (!response.ok) throw new Error(await response.text());
    return response.json();
  }
}

export default {
  fetch() {
    return new Response(null, { status: 404 });
  },
};
