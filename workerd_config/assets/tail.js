// The request log's tail Worker (workerd_config/traces.py, docs/explorer.md): every user
// Worker names it in its `tails`, with its own name in the props; workerd hands it each
// finished invocation (event, outcome, console lines, exceptions) and it passes them to
// the shim as they are. The shim adds the binding calls it served as spans.

// console.log() may have been given values JSON cannot hold as they are.
function json(events) {
  return JSON.stringify(events, (_, value) => (typeof value === "bigint" ? String(value) : value));
}

export default {
  async tail(events, env, ctx) {
    await env.SHIM.fetch("http://traces/invocations", {
      method: "POST",
      headers: { "content-type": "application/json", [env.HEADER]: ctx.props.worker },
      body: json(events),
    });
  },
};
