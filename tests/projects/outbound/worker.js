import { connect } from "cloudflare:sockets";

// What the Worker saw, as JSON: the response's status and body, or the error fetch threw.
async function viaFetch(target, redirect) {
  const response = await fetch(target, { redirect });
  return { status: response.status, location: response.headers.get("location"), body: await response.text() };
}

// One HTTP/1.0 exchange over a raw TCP socket: connect() takes its own path out.
async function viaConnect(address) {
  const socket = connect(address);
  const writer = socket.writable.getWriter();
  await writer.write(new TextEncoder().encode("GET /hello HTTP/1.0\r\n\r\n"));
  const reader = socket.readable.getReader();
  let text = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  return { status: Number(text.split(" ")[1]), body: text.split("\r\n\r\n")[1] };
}

export default {
  async fetch(request) {
    const url = new URL(request.url);
    try {
      if (url.pathname === "/connect") return Response.json(await viaConnect(url.searchParams.get("address")));
      const redirect = url.searchParams.get("redirect") ?? "follow";
      return Response.json(await viaFetch(url.searchParams.get("url"), redirect));
    } catch (error) {
      return Response.json({ error: { name: error.name, message: error.message } });
    }
  },
};
