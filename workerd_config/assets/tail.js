// The request log's tail Worker (workerd_config/traces.py, docs/explorer.md): every user
// Worker names it in its `tails`, with its own name in the props; workerd hands it each
// finished invocation (event, outcome, console lines, exceptions) and it passes them to
// the shim as they are. The shim adds the binding calls it served as spans.
//
// One post at a time: traces wait here, serialised, while one is on its way, and the next
// post takes all of them. A post per invocation let a busy Worker (a Durable Object called
// in a loop) outrun the shim: posts piled up, each on its own connection, until workerd ran
// out of file descriptors (docs/performance.md, "Durable Objects").

const MAX_BATCH_CHARS = 8 * 1024 * 1024; // the shim reads at most 32 MiB a post
// A post on its way longer than this is taken for lost (its invocation ended without
// finishing it): the next invocation posts what waits.
const STALE_POST_MS = 30_000;

// Worker name -> its waiting traces, each already JSON (strings outlive the invocation
// that made them; the TraceItems do not).
const waiting = new Map();
let posting = false;
let postingSince = 0;

// A diagnostics channel message reaches a trace as the value published, which may be one
// JSON cannot hold as it is (a BigInt); console.log() arguments arrive as text already.
function json(value) {
  return JSON.stringify(value, (_, v) => (typeof v === "bigint" ? String(v) : v));
}

function take() {
  for (const [worker, items] of waiting) {
    let chars = 0;
    let count = 0;
    while (count < items.length && (count === 0 || chars + items[count].length < MAX_BATCH_CHARS)) {
      chars += items[count].length;
      count += 1;
    }
    const batch = items.splice(0, count);
    if (items.length === 0) waiting.delete(worker);
    return [worker, batch];
  }
  return null;
}

async function post(env) {
  posting = true;
  try {
    for (let next = take(); next !== null; next = take()) {
      const [worker, batch] = next;
      postingSince = Date.now();
      await env.SHIM.fetch("http://traces/invocations", {
        method: "POST",
        headers: { "content-type": "application/json", [env.HEADER]: worker },
        body: `[${batch.join(",")}]`,
      });
    }
  } finally {
    posting = false;
  }
}

export default {
  async tail(events, env, ctx) {
    const worker = ctx.props.worker;
    const items = waiting.get(worker) ?? [];
    for (const event of events) items.push(json(event));
    waiting.set(worker, items);
    if (!posting || Date.now() - postingSince > STALE_POST_MS) await post(env);
  },
};
