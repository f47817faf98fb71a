// An HTTP D1 adapter as legacy controlplanes carry it: it speaks the shim's /query, /batch and
// /exec endpoints through a service binding, and the test drives it with JSON steps.

function toWire(value) {
  if (value instanceof ArrayBuffer) return [...new Uint8Array(value)];
  if (ArrayBuffer.isView(value)) return [...new Uint8Array(value.buffer, value.byteOffset, value.byteLength)];
  return value;
}

class HttpD1 {
  constructor(env) {
    this.shim = env.D1_SHIM;
    this.base = env.D1_HTTP_URL;
  }

  async call(path, body) {
    const response = await this.shim.fetch(`${this.base}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    const payload = await response.json();
    if (!response.ok) throw new Error(`${response.status}: ${payload.error}`);
    return payload;
  }

  query(sql, params = []) {
    return this.call("/query", { sql, params: params.map(toWire) });
  }

  batch(statements) {
    return this.call("/batch", {
      statements: statements.map(({ sql, params = [] }) => ({ sql, params: params.map(toWire) })),
    });
  }

  exec(sql) {
    return this.call("/exec", { sql });
  }
}

function decode(value) {
  if (value && typeof value === "object" && "$blob" in value) return new Uint8Array(value.$blob);
  return value;
}

export default {
  async fetch(request, env) {
    const db = new HttpD1(env);
    const out = [];
    for (const step of await request.json()) {
      try {
        if (step.op === "query") out.push({ ok: await db.query(step.sql, (step.params ?? []).map(decode)) });
        else if (step.op === "batch")
          out.push({
            ok: await db.batch(step.statements.map((s) => ({ ...s, params: (s.params ?? []).map(decode) }))),
          });
        else if (step.op === "exec") out.push({ ok: await db.exec(step.sql) });
        else if (step.op === "binding") out.push({ ok: await env.DB.prepare(step.sql).all() });
        else if (step.op === "raw") {
          const response = await env.D1_SHIM.fetch(`${env.D1_HTTP_URL}${step.path}`, {
            method: step.method ?? "POST",
            body: step.body,
          });
          out.push({ ok: { status: response.status, body: await response.text() } });
        }
      } catch (err) {
        out.push({ error: { message: err.message } });
      }
    }
    return Response.json(out);
  },
};
