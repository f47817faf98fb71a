// queue(): after a pause, every message body's n recorded as got/<n>; GET /: the n so far.
export default {
  async fetch(request, env) {
    const got = [];
    let cursor;
    do {
      const page = await env.TALLY.list({ prefix: "got/", cursor });
      got.push(...page.keys.map((key) => Number(key.name.slice(4))));
      cursor = page.list_complete ? undefined : page.cursor;
    } while (cursor);
    return Response.json(got);
  },
  async queue(batch, env) {
    await scheduler.wait(40);
    for (const message of batch.messages) await env.TALLY.put(`got/${message.body.n}`, "1");
  },
};
