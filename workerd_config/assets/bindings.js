// One Worker's bindings, for Python (groundflare.bindings), reached only through the door
// (door.js: /workers/NAME/bindings/BINDING/OP). It runs with that Worker's compatibility date
// and flags and the same bindings, so what it answers is what the Worker's own code would
// get: the same values, the same errors with the same texts.
//
//   POST /BINDING/OP  body: {"args": ...}   (r2.put: the object's bytes, args in a header)
//
// Answers: 200 {"value": ...} (JSON); 200 with a stream for r2.get (do.fetch: the object's
// own Response); 422 {"error": {"name", "message", "cause"}} and an x-groundflare-threw
// header when the binding threw. ArrayBuffers travel as
// {"$bytes": base64} both ways; Dates as ISO strings; Maps as objects.

const ARGS_HEADER = "x-groundflare-args";
const OBJECT_HEADER = "x-groundflare-object";
const THREW_HEADER = "x-groundflare-threw";

function fromBase64(text) {
  const raw = atob(text);
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  return bytes.buffer;
}

function toBase64(buffer) {
  const bytes = new Uint8Array(buffer);
  let raw = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    raw += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(raw);
}

// Python's bytes -> ArrayBuffer, wherever they are in the arguments.
function revive(value) {
  if (Array.isArray(value)) return value.map(revive);
  if (value !== null && typeof value === "object") {
    if (typeof value.$bytes === "string" && Object.keys(value).length === 1) {
      return fromBase64(value.$bytes);
    }
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, revive(v)]));
  }
  return value;
}

function encode(value) {
  return JSON.stringify(value, function (key, v) {
    const raw = this[key];
    if (raw instanceof ArrayBuffer) return { $bytes: toBase64(raw) };
    if (ArrayBuffer.isView(raw)) return { $bytes: toBase64(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength)) };
    if (raw instanceof Map) return Object.fromEntries(raw);
    return v;
  });
}

function answer(value) {
  return new Response(encode({ value: value ?? null }), {
    headers: { "content-type": "application/json" },
  });
}

function thrown(err) {
  const error = { name: err?.name ?? "Error", message: String(err?.message ?? err) };
  if (err?.cause !== undefined) error.cause = String(err.cause?.message ?? err.cause);
  return new Response(encode({ error }), {
    status: 422,
    headers: { "content-type": "application/json", [THREW_HEADER]: "1" },
  });
}

// An R2Object as JSON: the fields a Worker reads, Dates as ISO strings.
function r2Object(object) {
  if (object === null) return null;
  const http = { ...object.httpMetadata };
  if (http.cacheExpiry instanceof Date) http.cacheExpiry = http.cacheExpiry.toISOString();
  const fields = {
    key: object.key,
    version: object.version,
    size: object.size,
    etag: object.etag,
    httpEtag: object.httpEtag,
    uploaded: object.uploaded.toISOString(),
    httpMetadata: http,
    customMetadata: { ...object.customMetadata },
    checksums: object.checksums.toJSON(),
    storageClass: object.storageClass,
  };
  if (object.range !== undefined) fields.range = object.range;
  if (object.ssecKeyMd5 !== undefined) fields.ssecKeyMd5 = object.ssecKeyMd5;
  return fields;
}

const CONDITION_DATES = ["uploadedBefore", "uploadedAfter"];

// onlyIf and httpMetadata carry Dates, which JSON cannot.
function r2Options(options = {}) {
  const result = { ...options };
  if (result.onlyIf) {
    result.onlyIf = { ...result.onlyIf };
    for (const field of CONDITION_DATES) {
      if (result.onlyIf[field]) result.onlyIf[field] = new Date(result.onlyIf[field]);
    }
  }
  if (result.httpMetadata?.cacheExpiry) {
    result.httpMetadata = { ...result.httpMetadata, cacheExpiry: new Date(result.httpMetadata.cacheExpiry) };
  }
  return result;
}

function objectId(namespace, args) {
  return args.id !== undefined ? namespace.idFromString(args.id) : namespace.idFromName(args.name);
}

function durableObject(namespace, args) {
  return namespace.get(objectId(namespace, args));
}

const OPERATIONS = {
  "d1.prepare": (db, { sql, params = [], method = "all", column, columnNames }) => {
    const statement = db.prepare(sql).bind(...params);
    if (method === "first") return column === undefined ? statement.first() : statement.first(column);
    if (method === "raw") return statement.raw({ columnNames: Boolean(columnNames) });
    return statement[method]();
  },
  "d1.batch": (db, { statements }) =>
    db.batch(statements.map(({ sql, params = [] }) => db.prepare(sql).bind(...params))),
  "d1.exec": (db, { sql }) => db.exec(sql),
  "kv.get": (kv, { key, type = "text", cacheTtl, withMetadata }) => {
    const options = cacheTtl === undefined ? { type } : { type, cacheTtl };
    return withMetadata ? kv.getWithMetadata(key, options) : kv.get(key, options);
  },
  "kv.put": (kv, { key, value, options }) => kv.put(key, value, options),
  "kv.list": (kv, { options }) => kv.list(options),
  "kv.delete": (kv, { key }) => kv.delete(key),
  "r2.head": async (bucket, { key }) => r2Object(await bucket.head(key)),
  "r2.list": async (bucket, { options }) => {
    const listed = await bucket.list(options);
    return { ...listed, objects: listed.objects.map(r2Object) };
  },
  "r2.delete": (bucket, { keys }) => bucket.delete(keys),
  "queue.send": (queue, { body, options }) => queue.send(body, options),
  "queue.sendBatch": (queue, { messages, options }) => queue.sendBatch(messages, options),
  "do.call": (namespace, { method, params = [], ...which }) =>
    durableObject(namespace, which)[method](...params),
  // The id as workerd computes it (idFromName is an HMAC under the namespace's key).
  "do.id": (namespace, which) => objectId(namespace, which).toString(),
};

// The operations whose answer (or body) is a stream rather than JSON.
async function r2Get(bucket, args) {
  const object = await bucket.get(args.key, r2Options(args.options));
  if (object === null || object.body === undefined) return answer(r2Object(object));
  const headers = { "content-type": "application/octet-stream" };
  headers[OBJECT_HEADER] = encodeURIComponent(encode(r2Object(object)));
  return new Response(object.body, { headers });
}

async function r2Put(bucket, args, request) {
  const body = args.empty ? null : request.body;
  return answer(r2Object(await bucket.put(args.key, body, r2Options(args.options))));
}

async function doFetch(namespace, args, request) {
  const forwarded = new Request(new URL(args.path, "http://do"), {
    method: request.method,
    headers: request.headers,
    body: request.body,
  });
  forwarded.headers.delete(ARGS_HEADER);
  return durableObject(namespace, args).fetch(forwarded);
}

const STREAMING = { "r2.get": r2Get, "r2.put": r2Put, "do.fetch": doFetch };

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const [, name, operation] = url.pathname.split("/").map(decodeURIComponent);
    const binding = env[name];
    if (!Object.hasOwn(env.KINDS, name) || binding === undefined) {
      return Response.json({ error: `no binding named ${name}` }, { status: 404 });
    }
    const streaming = STREAMING[operation];
    const run = OPERATIONS[operation];
    if (streaming === undefined && run === undefined) {
      return Response.json({ error: `no operation ${operation}` }, { status: 404 });
    }
    try {
      if (streaming !== undefined) {
        const args = revive(JSON.parse(decodeURIComponent(request.headers.get(ARGS_HEADER) ?? "%7B%7D")));
        return await streaming(binding, args, request);
      }
      const { args } = await request.json();
      return answer(await run(binding, revive(args ?? {})));
    } catch (err) {
      return thrown(err);
    }
  },
};
