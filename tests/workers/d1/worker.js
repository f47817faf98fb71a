// Runs the D1 calls a test describes, with the unchanged D1 API, and reports results and
// errors as JSON. Parameters use tags for values JSON cannot carry:
//   {"$blob": [bytes]} -> Uint8Array, {"$buffer": [bytes]} -> ArrayBuffer,
//   {"$u16": [numbers]} -> Uint16Array,
//   {"$bigint": "n"} -> BigInt, {"$undefined": true} -> undefined, {"$nan": true} -> NaN.

function decode(value) {
  if (value && typeof value === "object" && !Array.isArray(value)) {
    if ("$blob" in value) return new Uint8Array(value.$blob);
    if ("$buffer" in value) return new Uint8Array(value.$buffer).buffer;
    if ("$u16" in value) return new Uint16Array(value.$u16);
    if ("$bigint" in value) return BigInt(value.$bigint);
    if ("$undefined" in value) return undefined;
    if ("$nan" in value) return NaN;
    if ("$inf" in value) return value.$inf * Infinity;
  }
  return value;
}

function encode(value) {
  if (value instanceof ArrayBuffer) return { $buffer: [...new Uint8Array(value)] };
  if (ArrayBuffer.isView(value)) return { $view: [...new Uint8Array(value.buffer)] };
  if (Array.isArray(value)) return value.map(encode);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, encode(v)]));
  }
  return value;
}

function statement(db, step) {
  const stmt = db.prepare(step.sql);
  return step.params ? stmt.bind(...step.params.map(decode)) : stmt;
}

async function runStep(db, step) {
  switch (step.op) {
    case "all":
      return statement(db, step).all();
    case "run":
      return statement(db, step).run();
    case "first":
      return "col" in step ? statement(db, step).first(step.col) : statement(db, step).first();
    case "raw":
      return statement(db, step).raw(step.columnNames ? { columnNames: true } : undefined);
    case "batch":
      return db.batch(step.statements.map((s) => statement(db, s)));
    case "exec":
      return db.exec(step.sql);
    case "dump": {
      const image = await db.dump();
      const header = new TextDecoder().decode(new Uint8Array(image, 0, 15));
      return { byteLength: image.byteLength, header };
    }
    case "session": {
      const session = env_db_session(db, step.constraint);
      const before = session.getBookmark();
      const results = [];
      for (const inner of step.steps) results.push(await runStep(session, inner));
      return { before, after: session.getBookmark(), results };
    }
    default:
      throw new Error(`unknown op ${step.op}`);
  }
}

function env_db_session(db, constraint) {
  return constraint === undefined ? db.withSession() : db.withSession(constraint);
}

async function runSteps(env, steps) {
  const out = [];
  for (const step of steps) {
    try {
      out.push({ ok: encode(await runStep(env.DB, step)) });
    } catch (err) {
      out.push({ error: { name: err.name, message: err.message } });
    }
  }
  return out;
}

export default {
  async fetch(request, env) {
    const steps = await request.json();
    return Response.json(await runSteps(env, steps));
  },
};
