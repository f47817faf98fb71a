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

async function route(request, env) {
  const url = new URL(request.url);
  const parts = url.pathname.split("/").filter(Boolean);

  if (parts.length === 0) {
    return json({ service: "controlplane", environment: env.ENVIRONMENT });
  }
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
