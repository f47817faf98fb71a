// Runs the KV calls a test describes, with the unchanged KV API, and reports results and
// caught errors as JSON. A step is {"op", "key" | "keys", "value", "options", "digest", "depth"}.
// Values JSON cannot carry use tags:
//   put values: {"$bytes": base64} -> Uint8Array, {"$buffer": base64} -> ArrayBuffer,
//     {"$fill": byte, "length": n} -> Uint8Array of n bytes,
//     {"$stream": byte, "length": n, "chunk": size} -> ReadableStream of unknown length.
//   results: bytes -> {"$bytes": base64}; with "digest": true any value becomes
//     {"$length": bytes, "$sha256": hex} (strings as UTF-8), for values of megabytes;
//     with "depth": true an object or array becomes {"$depth": its nesting depth}, for values
//     too deep for JSON.stringify or the test's own JSON parser.

function fromBase64(text) {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

function toBase64(bytes) {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

function stream(byte, length, chunk) {
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      if (sent >= length) return controller.close();
      const size = Math.min(chunk, length - sent);
      sent += size;
      controller.enqueue(new Uint8Array(size).fill(byte));
    },
  });
}

function value(spec) {
  if (spec && typeof spec === "object") {
    if ("$bytes" in spec) return fromBase64(spec.$bytes);
    if ("$buffer" in spec) return fromBase64(spec.$buffer).buffer;
    if ("$fill" in spec) return new Uint8Array(spec.length).fill(spec.$fill);
    if ("$stream" in spec) return stream(spec.$stream, spec.length, spec.chunk ?? 65536);
  }
  return spec;
}

async function digest(bytes) {
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  const hex = [...hash].map((b) => b.toString(16).padStart(2, "0")).join("");
  return { $length: bytes.byteLength, $sha256: hex };
}

function depth(value) {
  let deepest = 0;
  const pending = [[value, 1]];
  while (pending.length > 0) {
    const [item, level] = pending.pop();
    deepest = Math.max(deepest, level);
    for (const inner of Object.values(item)) {
      if (inner !== null && typeof inner === "object") pending.push([inner, level + 1]);
    }
  }
  return deepest;
}

async function encode(result, step) {
  if (result instanceof ReadableStream) result = await new Response(result).arrayBuffer();
  const plain = !(result instanceof Map || result instanceof ArrayBuffer);
  if (step.depth && result !== null && typeof result === "object" && plain) {
    return { $depth: depth(result) };
  }
  if (step.digest && result !== null) {
    if (typeof result === "string") return digest(new TextEncoder().encode(result));
    if (result instanceof ArrayBuffer) return digest(new Uint8Array(result));
  }
  if (result instanceof ArrayBuffer) return { $bytes: toBase64(new Uint8Array(result)) };
  if (result instanceof Map) {
    const entries = [];
    for (const [key, item] of result) entries.push([key, await encode(item, step)]);
    return Object.fromEntries(entries);
  }
  return result === undefined ? null : result;
}

async function runStep(kv, step) {
  const options = step.options;
  switch (step.op) {
    case "get":
      return encode(await kv.get(step.keys ?? step.key, options), step);
    case "getWithMetadata": {
      const result = await kv.getWithMetadata(step.keys ?? step.key, options);
      if (result instanceof Map) return Object.fromEntries(result);
      return { ...result, value: await encode(result.value, step) };
    }
    case "put":
      return encode(await kv.put(step.key, value(step.value), options), step);
    case "delete":
      return encode(await kv.delete(step.key), step);
    case "list":
      return kv.list(options);
    case "parallel":
      return Promise.all(step.steps.map((inner) => runStep(kv, inner)));
    default:
      throw new Error(`unknown op ${step.op}`);
  }
}

export default {
  async fetch(request, env) {
    const out = [];
    for (const step of await request.json()) {
      try {
        out.push({ ok: await runStep(env.KV, step) });
      } catch (err) {
        out.push({ error: { name: err.name, message: err.message } });
      }
    }
    return Response.json(out);
  },
};
