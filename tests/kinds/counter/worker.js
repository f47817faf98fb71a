export default {
  async fetch(request, env) {
    const answer = await env.HITS.fetch("http://counter/", { method: "POST" });
    return new Response(`hits: ${await answer.text()}`);
  },
};
