// GET /?n=N: N sequential RPC calls to one Durable Object; answers the last count.
import { DurableObject } from "cloudflare:workers";

export class Counter extends DurableObject {
  count = 0;

  increment() {
    this.count += 1;
    return this.count;
  }
}

export default {
  async fetch(request, env) {
    const n = Number.parseInt(new URL(request.url).searchParams.get("n") ?? "1", 10);
    const stub = env.COUNTER.get(env.COUNTER.idFromName("loop"));
    let last = 0;
    for (let i = 0; i < n; i++) last = await stub.increment();
    return new Response(String(last));
  },
};
