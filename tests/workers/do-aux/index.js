export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === "/remote") {
      const stub = env.REMOTE_COUNTER.get(env.REMOTE_COUNTER.idFromName("shared"));
      return stub.fetch("http://do/");
    }
    return Response.json({ hello: env.WHO, counter: typeof env.REMOTE_COUNTER });
  },
};
