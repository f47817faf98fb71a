// GET / -> the binding's connection details; GET /echo?text=T -> what the database end of
// env.DB.connect() answered to T (the test's stand-in database echoes).
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === "/echo") {
      const socket = env.DB.connect();
      const writer = socket.writable.getWriter();
      await writer.write(new TextEncoder().encode(url.searchParams.get("text")));
      const { value } = await socket.readable.getReader().read();
      await socket.close();
      return new Response(new TextDecoder().decode(value));
    }
    const { user, password, database, port } = env.DB;
    const parsed = new URL(env.DB.connectionString);
    return Response.json({ user, password, database, port, scheme: parsed.protocol });
  },
};
