// D1 benchmark Worker. Each route does its D1 work N times, sequentially, inside one request,
// so the HTTP round trip to the Worker is amortised and the time is dominated by the binding.
// Every route returns {"n", "checksum"} computed from the results, so no work can be skipped.

const SEED_ROWS = 10000;
const BATCH_SIZE = 1000;

const SCHEMA = [
  "CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, value INTEGER NOT NULL)",
  "CREATE TABLE IF NOT EXISTS writes (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, value INTEGER NOT NULL)",
];

// One statement seeds every row; OR IGNORE keeps /setup idempotent.
const SEED = `INSERT OR IGNORE INTO items (id, name, value)
  WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < ?1)
  SELECT i, 'item-' || i, (i * 7919) % 1000 FROM seq`;

async function setup(db) {
  for (const sql of SCHEMA) await db.prepare(sql).run();
  await db.prepare(SEED).bind(SEED_ROWS).run();
  const row = await db.prepare("SELECT count(*) AS rows FROM items").first();
  return { n: 1, checksum: row.rows };
}

async function point(db, n) {
  const stmt = db.prepare("SELECT id, name, value FROM items WHERE id = ?");
  let checksum = 0;
  for (let i = 0; i < n; i++) {
    const row = await stmt.bind((i % SEED_ROWS) + 1).first();
    checksum += row.value;
  }
  return { n, checksum };
}

async function insert(db, n) {
  const stmt = db.prepare("INSERT INTO writes (name, value) VALUES (?, ?)");
  let checksum = 0;
  for (let i = 0; i < n; i++) {
    const result = await stmt.bind(`insert-${i}`, i).run();
    checksum += result.meta.changes;
  }
  return { n, checksum };
}

async function batch(db, n) {
  const stmt = db.prepare("INSERT INTO writes (name, value) VALUES (?, ?)");
  let checksum = 0;
  for (let k = 0; k < n; k++) {
    const statements = [];
    for (let i = 0; i < BATCH_SIZE; i++) statements.push(stmt.bind(`batch-${k}-${i}`, i));
    const results = await db.batch(statements);
    for (const result of results) checksum += result.meta.changes;
  }
  return { n, checksum };
}

async function scan(db, n) {
  const stmt = db.prepare("SELECT id, name, value FROM items");
  let checksum = 0;
  for (let k = 0; k < n; k++) {
    const { results } = await stmt.all();
    for (const row of results) checksum += row.value;
  }
  return { n, checksum };
}

const ROUTES = { "/point": point, "/insert": insert, "/batch": batch, "/scan": scan };

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    try {
      if (url.pathname === "/setup") return Response.json(await setup(env.DB));
      const route = ROUTES[url.pathname];
      if (!route) return Response.json({ error: `no route ${url.pathname}` }, { status: 404 });
      const n = Number.parseInt(url.searchParams.get("n") ?? "1", 10);
      if (!(n > 0)) return Response.json({ error: "n must be a positive integer" }, { status: 400 });
      return Response.json(await route(env.DB, n));
    } catch (err) {
      return Response.json({ error: String(err && err.stack ? err.stack : err) }, { status: 500 });
    }
  },
};
