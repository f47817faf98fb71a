// Runs the R2 calls a test describes, with the unchanged R2 API, and reports what the API
// returned (objects described as JSON, bodies as text, base64 or a digest) and the messages
// of errors it threw. Arguments use tags for values JSON cannot carry:
//   {"$headers": {...}} -> Headers, {"$date": ms or string} -> Date,
//   {"$bytes": base64} -> Uint8Array, {"$pattern": {"size": n, "seed": s}} -> a stream of
//   known length whose byte j is ((j mod 2^20) * 7 + seed) mod 251 (tests/workers/r2/probe.py),
//   {"$stream": text} -> a stream of unknown length.
// Routes besides POST / (the steps): PUT /object/<key> stores the request body,
// GET /object/<key> answers with the object's body.

const PATTERN_CHUNK = 1 << 20;

function decode(value) {
  if (Array.isArray(value)) return value.map(decode);
  if (value && typeof value === "object") {
    if ("$headers" in value) return new Headers(value.$headers);
    if ("$date" in value) return new Date(value.$date);
    if ("$bytes" in value) return fromBase64(value.$bytes);
    if ("$pattern" in value) return patternStream(value.$pattern.size, value.$pattern.seed);
    if ("$stream" in value) return new Blob([value.$stream]).stream().pipeThrough(new TransformStream());
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, decode(v)]));
  }
  return value;
}

function fromBase64(text) {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

function toBase64(buffer) {
  const bytes = new Uint8Array(buffer);
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

function patternStream(size, seed) {
  const chunk = new Uint8Array(Math.min(size, PATTERN_CHUNK));
  for (let j = 0; j < chunk.length; j++) chunk[j] = (j * 7 + seed) % 251;
  const { readable, writable } = new FixedLengthStream(size);
  const writer = writable.getWriter();
  (async () => {
    for (let left = size; left > 0; left -= chunk.length) {
      await writer.write(chunk.slice(0, Math.min(left, chunk.length)));
    }
    await writer.close();
  })().catch(() => {});
  return readable;
}

function describeHttp(http) {
  const out = { ...http };
  if (http.cacheExpiry !== undefined) out.cacheExpiry = http.cacheExpiry.getTime();
  return out;
}

function describe(obj) {
  if (obj === null) return null;
  const out = {
    class: obj.constructor.name,
    key: obj.key,
    version: obj.version,
    size: obj.size,
    etag: obj.etag,
    httpEtag: obj.httpEtag,
    uploaded: obj.uploaded.getTime(),
    storageClass: obj.storageClass,
    checksums: obj.checksums.toJSON(),
    hasBody: "body" in obj,
  };
  if (obj.httpMetadata !== undefined) out.httpMetadata = describeHttp(obj.httpMetadata);
  if (obj.customMetadata !== undefined) out.customMetadata = obj.customMetadata;
  if (obj.range !== undefined) out.range = obj.range;
  if (obj.ssecKeyMd5 !== undefined) out.ssecKeyMd5 = obj.ssecKeyMd5;
  try {
    const headers = new Headers();
    obj.writeHttpMetadata(headers);
    out.headers = Object.fromEntries(headers);
  } catch (err) {
    out.headers = { error: err.message };
  }
  return out;
}

async function drain(body, digest) {
  const reader = body.getReader();
  const hash = digest ? new crypto.DigestStream("MD5") : null;
  const writer = hash?.getWriter();
  let bytes = 0;
  let chunks = 0;
  let largest = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    bytes += value.byteLength;
    chunks += 1;
    largest = Math.max(largest, value.byteLength);
    if (writer) await writer.write(value);
  }
  const out = { bytes, chunks, largest };
  if (writer) {
    await writer.close();
    out.md5 = [...new Uint8Array(await hash.digest)]
      .map((b) => b.toString(16).padStart(2, "0"))
      .join("");
  }
  return out;
}

async function readBody(obj, mode) {
  switch (mode) {
    case "text":
      return obj.text();
    case "base64":
      return toBase64(await obj.arrayBuffer());
    case "digest":
      return drain(obj.body, true);
    case "drain":
      return drain(obj.body, false);
    default:
      return undefined;
  }
}

async function runStep(bucket, step) {
  const options = step.options === undefined ? undefined : decode(step.options);
  switch (step.op) {
    case "head":
      return describe(await bucket.head(step.key));
    case "get": {
      const obj = await bucket.get(step.key, options);
      const out = describe(obj);
      if (obj !== null && obj.body !== undefined && step.read !== "none") {
        out.body = await readBody(obj, step.read ?? "text");
      }
      return out;
    }
    case "put":
      return describe(await bucket.put(step.key, decode(step.value), options));
    case "copy": {
      const source = await bucket.get(step.from);
      return describe(await bucket.put(step.key, source.body, options));
    }
    case "delete":
      return bucket.delete(step.keys);
    case "list": {
      const result = await bucket.list(options);
      return { ...result, objects: result.objects.map(describe) };
    }
    case "createMultipartUpload": {
      const upload = await bucket.createMultipartUpload(step.key, options);
      return { key: upload.key, uploadId: upload.uploadId };
    }
    case "uploadPart": {
      const upload = bucket.resumeMultipartUpload(step.key, step.uploadId);
      return upload.uploadPart(step.partNumber, decode(step.value));
    }
    case "completeMultipartUpload": {
      const upload = bucket.resumeMultipartUpload(step.key, step.uploadId);
      return describe(await upload.complete(step.parts));
    }
    case "abortMultipartUpload": {
      const upload = bucket.resumeMultipartUpload(step.key, step.uploadId);
      return upload.abort();
    }
    default:
      throw new Error(`unknown op ${step.op}`);
  }
}

async function runSteps(env, steps) {
  const out = [];
  for (const step of steps) {
    try {
      const result = await runStep(env.BUCKET, step);
      out.push({ ok: result === undefined ? null : result });
    } catch (err) {
      out.push({ error: { name: err.name, message: err.message } });
    }
  }
  return out;
}

async function object(request, env, key) {
  if (request.method === "PUT") {
    return Response.json(describe(await env.BUCKET.put(key, request.body)));
  }
  const obj = await env.BUCKET.get(key);
  if (obj === null) return new Response("not found", { status: 404 });
  return new Response(obj.body, { headers: { etag: obj.httpEtag } });
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname.startsWith("/object/")) {
      return object(request, env, decodeURIComponent(url.pathname.slice("/object/".length)));
    }
    const steps = await request.json();
    return Response.json(await runSteps(env, steps));
  },
};
