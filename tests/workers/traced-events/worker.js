// GET /enqueue sends a message; GET /alarm sets an alarm due at once; GET /ws opens a
// hibernatable WebSocket on the object, which answers each message; GET /bigint publishes a
// BigInt on a diagnostics channel (it reaches the tail Worker as a BigInt, which JSON cannot
// hold) and logs one (workerd hands that over as text). Every handler logs a line the test
// looks for in the request log.
import { DurableObject } from "cloudflare:workers";
import diagnostics_channel from "node:diagnostics_channel";

export class Room extends DurableObject {
  async fetch(request) {
    if (new URL(request.url).pathname === "/alarm") {
      await this.ctx.storage.setAlarm(Date.now());
      return new Response("alarm set");
    }
    const pair = new WebSocketPair();
    this.ctx.acceptWebSocket(pair[1]);
    return new Response(null, { status: 101, webSocket: pair[0] });
  }
  async alarm() {
    console.log("alarm rang");
  }
  async webSocketMessage(ws, message) {
    console.log(`websocket got ${message}`);
    ws.send(`echo ${message}`);
  }
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === "/bigint") {
      diagnostics_channel.channel("counts").publish({ n: 2n ** 64n });
      console.log("counted", 2n ** 64n);
      return new Response("logged");
    }
    if (url.pathname === "/enqueue") {
      await env.JOBS.send({ job: "traced" });
      return new Response("sent");
    }
    return env.ROOM.get(env.ROOM.idFromName("room")).fetch(request);
  },
  async queue(batch) {
    for (const message of batch.messages) console.log(`queue got ${message.body.job}`);
  },
};
