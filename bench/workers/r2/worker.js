// R2 benchmark Worker.
//
// /put and /get make N sequential calls on 1 MiB objects inside one request (per-call latency).
// /bigput streams `size` bytes into one object without ever holding them: a 1 MiB chunk
// written again and again into a FixedLengthStream, so R2 knows the length up front.
// /bigget reads that object back three ways, because workerd's default reader hands out
// 4 KiB chunks (docs/r2.md):
//   mode=byob      a BYOB reader filling one reused buffer (readAtLeast), `buffer` bytes
//                  (default 1 MiB; 64 KiB to 16 MiB measured the same on both backends)
//   mode=default   the default reader, chunk by chunk, as most Worker code reads
//   mode=response  `new Response(object.body)`: the client reads it, JavaScript never does
//   mode=arraybuffer  `await object.arrayBuffer()`: the Worker holds it all (for the 256 MiB
//                  object, key=mid)
// Every JSON route returns {"n", "checksum"} computed from what it did.

const MIB = 1 << 20;
const SMALL_KEYS = 100; // /get cycles through the objects /put wrote
const BIG_KEY = "big";

function pattern(size) {
  const chunk = new Uint8Array(size);
  for (let j = 0; j < size; j++) chunk[j] = (j * 7) % 251;
  return chunk;
}

const CHUNK = pattern(MIB);

async function put(bucket, n) {
  let checksum = 0;
  for (let i = 0; i < n; i++) {
    const object = await bucket.put(`small/${i % SMALL_KEYS}`, CHUNK);
    checksum += object.size;
  }
  return { n, checksum };
}

async function get(bucket, n) {
  let checksum = 0;
  for (let i = 0; i < n; i++) {
    const object = await bucket.get(`small/${i % SMALL_KEYS}`);
    checksum += (await object.arrayBuffer()).byteLength;
  }
  return { n, checksum };
}

// The body is produced while R2 consumes it: only one chunk exists at a time.
async function bigPut(bucket, size, key) {
  const { readable, writable } = new FixedLengthStream(size);
  const writer = writable.getWriter();
  const writing = (async () => {
    for (let left = size; left > 0; left -= MIB) {
      await writer.write(left >= MIB ? CHUNK : CHUNK.subarray(0, left));
    }
    await writer.close();
  })();
  const [object] = await Promise.all([bucket.put(key, readable), writing]);
  return { n: 1, checksum: object.size };
}

async function readByob(body, size) {
  const reader = body.getReader({ mode: "byob" });
  let buffer = new ArrayBuffer(size);
  let total = 0;
  for (;;) {
    const { value, done } = await reader.readAtLeast(size, new Uint8Array(buffer));
    if (value) {
      total += value.byteLength;
      buffer = value.buffer;
    }
    if (done || value.byteLength < size) break;
  }
  return total;
}

async function readDefault(body) {
  const reader = body.getReader();
  let total = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return total;
    total += value.byteLength;
  }
}

async function bigGet(bucket, mode, bufferSize, key) {
  const object = await bucket.get(key);
  if (object === null) throw new Error(`no object ${key}; run /bigput first`);
  if (mode === "arraybuffer") {
    return Response.json({ n: 1, checksum: (await object.arrayBuffer()).byteLength });
  }
  if (mode === "response") {
    return new Response(object.body); // workerd frames it with the object's length
  }
  const total =
    mode === "byob" ? await readByob(object.body, bufferSize) : await readDefault(object.body);
  return Response.json({ n: 1, checksum: total });
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const int = (name, fallback) => Number.parseInt(url.searchParams.get(name) ?? fallback, 10);
    try {
      switch (url.pathname) {
        case "/put":
          return Response.json(await put(env.BUCKET, int("n", "1")));
        case "/get":
          return Response.json(await get(env.BUCKET, int("n", "1")));
        case "/bigput":
          return Response.json(
            await bigPut(env.BUCKET, int("size", String(MIB)), url.searchParams.get("key") ?? BIG_KEY)
          );
        case "/bigget":
          return await bigGet(
            env.BUCKET,
            url.searchParams.get("mode"),
            int("buffer", String(MIB)),
            url.searchParams.get("key") ?? BIG_KEY
          );
        case "/delete":
          await env.BUCKET.delete(BIG_KEY);
          return Response.json({ n: 1, checksum: 0 });
        default:
          return Response.json({ error: `no route ${url.pathname}` }, { status: 404 });
      }
    } catch (err) {
      return Response.json({ error: String(err && err.stack ? err.stack : err) }, { status: 500 });
    }
  },
};
