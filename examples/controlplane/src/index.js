// A small controlplane: projects and their deployments in D1, sessions and flags in KV,
// uploads in R2; deployments built in the background through a queue (retried, then
// dead-lettered), logins rate-limited, project badges cached, and a cron that checks on the
// build service, a local HTTP process reached with fetch().
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

// Deployments made before they had a status get one (an existing .data/dev keeps working).
async function addStatus(db) {
  try {
    await db.prepare("ALTER TABLE deployments ADD COLUMN status TEXT NOT NULL DEFAULT 'queued'").run();
  } catch (err) {
    if (!String(err.message).includes("duplicate column name")) throw err;
  }
}

function ensureSchema(db) {
  schemaReady ??= db
    .batch(SCHEMA.map((sql) => db.prepare(sql)))
    .then(() => addStatus(db))
    .catch((err) => {
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
    const { success } = await env.LOGIN_LIMITER.limit({ key: `user:${user}` });
    if (!success) return json({ error: "too many new sessions; try again in a minute" }, 429);
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

// GET /projects/:id/badge: the latest deployment, cached for a minute (a hit carries
// cf-cache-status: HIT), so a README full of badges does not hit D1 each time.
async function badge(request, env, ctx, projectId) {
  const cache = caches.default;
  const cached = await cache.match(request);
  if (cached) return cached;
  const latest = await env.DB.prepare(
    "SELECT version, status FROM deployments WHERE project_id = ? ORDER BY id DESC LIMIT 1",
  )
    .bind(projectId)
    .first();
  const response = Response.json(
    { project: projectId, version: latest?.version ?? null, status: latest?.status ?? "none" },
    { headers: { "cache-control": "public, max-age=60" } },
  );
  ctx.waitUntil(cache.put(request, response.clone()));
  return response;
}

async function listDeployments(env, projectId) {
  const { results } = await env.DB.prepare(
    "SELECT id, version, status, created_at FROM deployments WHERE project_id = ? ORDER BY id",
  )
    .bind(projectId)
    .all();
  return results;
}

async function route(request, env, ctx) {
  const url = new URL(request.url);
  const parts = url.pathname.split("/").filter(Boolean);

  if (parts.length === 0) {
    return json({ service: "controlplane", environment: env.ENVIRONMENT });
  }
  if (parts[0] === "sessions") return sessions(request, env, parts);
  if (parts[0] === "flags") return flags(request, env, parts);
  if (parts[0] === "uploads") return uploads(request, env, parts);
  if (parts[0] === "builder") return json((await env.KV.get("builder:health", "json")) ?? {});
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
  if (parts.length === 3 && parts[2] === "badge" && request.method === "GET") {
    return badge(request, env, ctx, projectId);
  }
  if (parts.length === 3 && parts[2] === "deployments" && request.method === "GET") {
    return json({ deployments: await listDeployments(env, projectId) });
  }
  if (parts.length === 3 && parts[2] === "deployments" && request.method === "POST") {
    const { version } = await request.json();
    const deployment = await env.DB.prepare(
      "INSERT INTO deployments (project_id, version) VALUES (?, ?) RETURNING id",
    )
      .bind(projectId, version)
      .first();
    // Built in the background (queue() below); the answer says it is queued.
    await env.DEPLOYS.send({ deployment: deployment.id, project: projectId, version });
    return json({ deployments: await listDeployments(env, projectId) }, 201);
  }
  return json({ error: "not found" }, 404);
}

async function setStatus(env, deployment, status) {
  await env.DB.prepare("UPDATE deployments SET status = ? WHERE id = ?").bind(status, deployment).run();
}

// A deployment job: hand it to the build service; if that fails, retry it later (after
// max_retries it lands on deploys-dlq, whose messages mark the deployment failed).
async function build(message, env) {
  const job = message.body;
  try {
    const answer = await fetch(`${env.BUILDER_URL}/build`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(job),
    });
    if (!answer.ok) throw new Error(`the builder answered ${answer.status}`);
    await setStatus(env, job.deployment, "live");
    message.ack();
  } catch (err) {
    console.log(`deployment ${job.deployment}: ${err.message}; retrying`);
    await setStatus(env, job.deployment, "retrying");
    message.retry();
  }
}

export default {
  async fetch(request, env, ctx) {
    await ensureSchema(env.DB);
    try {
      return await route(request, env, ctx);
    } catch (err) {
      return json({ error: err.message }, 500);
    }
  },

  async queue(batch, env) {
    await ensureSchema(env.DB);
    for (const message of batch.messages) {
      if (batch.queue === "deploys-dlq") {
        await setStatus(env, message.body.deployment, "failed");
      } else {
        await build(message, env);
      }
    }
  },

  async scheduled(controller, env) {
    let health;
    try {
      const answer = await fetch(`${env.BUILDER_URL}/health`);
      health = { ok: answer.ok, status: answer.status };
    } catch (err) {
      health = { ok: false, error: err.message };
    }
    await env.KV.put("builder:health", JSON.stringify({ ...health, at: controller.scheduledTime }));
  },
};
