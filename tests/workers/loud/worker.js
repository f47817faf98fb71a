// GET /?line=N prints one line of N bytes; /?lines=N prints N short lines;
// /?then=TEXT prints TEXT last. Answers "ok" once it has printed.
export default {
  async fetch(request) {
    const params = new URL(request.url).searchParams;
    const line = Number(params.get("line") ?? 0);
    const lines = Number(params.get("lines") ?? 0);
    if (line) console.log("L".repeat(line - 1) + "!");
    for (let i = 0; i < lines; i++) console.log(`line ${i} of ${lines}`);
    if (params.has("then")) console.log(params.get("then"));
    return new Response("ok");
  },
};
