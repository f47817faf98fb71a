// A small controlplane: projects and their deployments, stored in D1.
const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS projects (
     id INTEGER PRIMARY KEY,
     name TEXT NOT NULL UNIQUE,
     created_at TEXT NOT NULL DEFAULT (datetime('now'))
   )`,
  `CREATE TABLE IF NOT EXISTS deployments (
     id INTEGER PRIMARY KEY,
     project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
     version TEXT NOT NULL,
     created_at TEXT NOT NULL DEFAULT (datetime('now'))
   )`,
];

let schemaReady = null;

function ensureSchema(db) {
  schemaReady ??= db.batch(SCHEMA.map((sql) => db.prepare(sql))).catch((err) => {
    schemaReady = null;
    throw err;
  });
  return schemaReady;
}

function json(body, status = 200) {
  return Response.json(body, { status });
}

const SESSION_TTL_SECONDS = 3600;

async function sessions(request, env, parts) {
  if (request.method === "POST" && parts.length === 1) {
    const { user } = await request.json();
    const id = crypto.randomUUID();
    await env.KV.put(`session:${id}`, JSON.stringify({ user }), {
      expirationTtl: SESSION_TTL_SECONDS,
      metadata: { created: new Date().toISOString() },
    });
    return json({ session: id }, 201);
  }
  if (request.method === "GET" && parts.length === 2) {
    const { value, metadata } = await env.KV.getWithMetadata(`session:${parts[1]}`, "json");
    return value ? json({ ...value, ...metadata }) : json({ error: "no such session" }, 404);
  }
  return json({ error: "not found" }, 404);
}

async function flags(request, env, parts) {
  if (request.method === "PUT" && parts.length === 2) {
    await env.KV.put(`flag:${parts[1]}`, JSON.stringify(await request.json()));
    return json({ flag: parts[1] });
  }
  const { keys } = await env.KV.list({ prefix: "flag:" });
  const entries = await Promise.all(
    keys.map(async ({ name }) => [name.slice("flag:".length), await env.KV.get(name, "json")]),
  );
  return json({ flags: Object.fromEntries(entries) });
}

async function uploads(request, env, parts) {
  const key = parts.slice(1).join("/");
  if (request.method === "PUT" && key) {
    const object = await env.UPLOADS.put(key, request.body, {
      httpMetadata: { contentType: request.headers.get("content-type") ?? "application/octet-stream" },
    });
    return json({ key: object.key, size: object.size, etag: object.etag }, 201);
  }
  if (request.method === "GET" && key) {
    const object = await env.UPLOADS.get(key);
    if (!object) return json({ error: "no such upload" }, 404);
    const headers = new Headers();
    object.writeHttpMetadata(headers);
    headers.set("etag", object.httpEtag);
    return new Response(object.body, { headers });
  }
  const listed = await env.UPLOADS.list();
  return json({ uploads: listed.objects.map(({ key, size }) => ({ key, size })) });
}

async function route(request, env) {
  const url = new URL(request.url);
  const parts = url.pathname.split("/").filter(Boolean);

  if (parts.length === 0) {
    return json({ service: "controlplane", environment: env.ENVIRONMENT });
  }
  if (parts[0] === "sessions") return sessions(request, env, parts);
  if (parts[0] === "flags") return flags(request, env, parts);
  if (parts[0] === "uploads") return uploads(request, env, parts);
  if (parts[0] !== "projects") {
    return json({ error: "not found" }, 404);
  }
  if (parts.length === 1 && request.method === "GET") {
    const { results } = await env.DB.prepare(
      "SELECT id, name, created_at FROM projects ORDER BY id",
    ).all();
    return json({ projects: results });
  }
  if (parts.length === 1 && request.method === "POST") {
    const { name } = await request.json();
    if (typeof name !== "string" || name.length === 0) {
      return json({ error: "name is required" }, 400);
    }
    const project = await env.DB.prepare(
      "INSERT INTO projects (name) VALUES (?) RETURNING id, name, created_at",
    )
      .bind(name)
      .first();
    return json({ project }, 201);
  }
  const projectId = Number(parts[1]);
  if (parts.length === 3 && parts[2] === "deployments" && request.method === "POST") {
    const { version } = await request.json();
    const [, deployments] = await env.DB.batch([
      env.DB.prepare("INSERT INTO deployments (project_id, version) VALUES (?, ?)").bind(
        projectId,
        version,
      ),
      env.DB.prepare(
        "SELECT id, version, created_at FROM deployments WHERE project_id = ? ORDER BY id",
      ).bind(projectId),
    ]);
    return json({ deployments: deployments.results }, 201);
  }
  return json({ error: "not found" }, 404);
}

export default {
  async fetch(request, env) {
    await ensureSchema(env.DB);
    try {
      return await route(request, env);
    } catch (err) {
      return json({ error: err.message }, 500);
    }
  },
};
