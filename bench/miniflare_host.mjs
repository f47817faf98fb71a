// Hosts one Worker on Miniflare for `make bench`, the comparison point for groundflare.
//
//   node miniflare_host.mjs '<json>'
//
// The JSON (built in Python from the same wrangler.toml groundflare reads, bench/miniflare.py)
// holds Miniflare options: "scriptPath", "compatibilityDate", "compatibilityFlags",
// "d1Databases", "d1Persist", and when the Worker has them "kvNamespaces", "kvPersist",
// "r2Buckets", "r2Persist", "durableObjects", "durableObjectsPersist", "bindings" (vars),
// "queueProducers", "queueConsumers", "modulesRoot".
// Prints ONE JSON line {"url": ...} on stdout when ready (right after `await mf.ready`, so the
// parent can time the cold start); everything else goes to stderr.
// Stops when stdin closes (the parent's way to stop it, and what happens if the parent dies):
// mf.dispose(), exit 0. SIGTERM/SIGINT are Miniflare's own: its exit hook, registered by
// `new Miniflare`, kills workerd and removes its temp dir, then exits 128+signal.

import { Log, LogLevel, Miniflare } from "miniflare";

const config = JSON.parse(process.argv[2] ?? "{}");
const PASSED = [
  "scriptPath",
  "compatibilityDate",
  "compatibilityFlags",
  "d1Databases",
  "d1Persist",
  "kvNamespaces",
  "kvPersist",
  "r2Buckets",
  "r2Persist",
  "durableObjects",
  "durableObjectsPersist",
  "bindings",
  "queueProducers",
  "queueConsumers",
  "modulesRoot",
];

// Miniflare's Log prints with console.log; stdout is reserved for the ready line.
class StderrLog extends Log {
  log(message) {
    console.error(message);
  }
}

const options = Object.fromEntries(
  PASSED.filter((name) => config[name] !== undefined).map((name) => [name, config[name]]),
);

const mf = new Miniflare({
  host: "127.0.0.1",
  port: 0,
  modules: true,
  compatibilityFlags: [],
  ...options,
  log: new StderrLog(LogLevel.WARN),
  logRequests: false,
  cf: false, // offline: never fetch the Request.cf object from workers.cloudflare.com
  // Keep stdout for the ready line alone: the runtime's own output goes to stderr.
  handleRuntimeStdio(stdout, stderr) {
    stdout.pipe(process.stderr);
    stderr.pipe(process.stderr);
  },
});

let stopping = null;
function stop() {
  stopping ??= mf.dispose().then(
    () => process.exit(0),
    (err) => {
      console.error(`miniflare: dispose failed: ${err && err.stack ? err.stack : err}`);
      process.exit(1);
    },
  );
}

process.stdin.on("end", stop);
process.stdin.on("error", stop);
process.stdin.resume();

try {
  const url = await mf.ready;
  process.stdout.write(`${JSON.stringify({ url: url.href.replace(/\/$/, "") })}\n`);
} catch (err) {
  console.error(`miniflare: failed to start: ${err && err.stack ? err.stack : err}`);
  process.exit(1);
}
