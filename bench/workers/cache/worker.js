// Cache API benchmark Worker. /setup puts a 1 KiB response (max-age one hour) into
// caches.default; /hit matches it N times in one request, /miss matches a key never put.
// Every route returns {"n", "checksum"} computed from the results, so no work is skipped.

const BODY = "c".repeat(1024);
const KEY = "https://bench.example/cached";

async function setup() {
  const response = new Response(BODY, { headers: { "cache-control": "max-age=3600" } });
  await caches.default.put(KEY, response);
  const found = await caches.default.match(KEY);
  return { n: 1, checksum: found ? (await found.text()).length : -1 };
}

async function hit(n) {
  let checksum = 0;
  for (let i = 0; i < n; i++) {
    const found = await caches.default.match(KEY);
    checksum += (await found.text()).length;
  }
  return { n, checksum };
}

async function miss(n) {
  let checksum = 0;
  for (let i = 0; i < n; i++) {
    checksum += (await caches.default.match(`${KEY}/missing/${i}`)) === undefined ? 1 : 0;
  }
  return { n, checksum };
}

const ROUTES = { "/setup": () => setup(), "/hit": hit, "/miss": miss };

export default {
  async fetch(request) {
    const url = new URL(request.url);
    const route = ROUTES[url.pathname];
    if (route === undefined) return new Response("not found", { status: 404 });
    try {
      return Response.json(await route(Number(url.searchParams.get("n") ?? "1")));
    } catch (error) {
      return Response.json({ error: String(error.stack ?? error) }, { status: 500 });
    }
  },
};
