// groundflare's static-assets router, in front of a Worker with [assets] (production's order):
// GET/HEAD requests that name a file in the assets directory are answered from it; everything
// else goes to the Worker (or, without one, to not_found_handling). ASSETS_DIR is a read-only
// workerd disk service; CONFIG carries the [assets] settings. env.ASSETS in the user's Worker is
// the AssetsBinding entrypoint: assets only, never the Worker.
import { WorkerEntrypoint } from "cloudflare:workers";

// Production's types (the `mime` package's database, charset added to text/*).
const TYPES = {
  html: "text/html; charset=utf-8", htm: "text/html; charset=utf-8", css: "text/css; charset=utf-8",
  js: "text/javascript; charset=utf-8", mjs: "text/javascript; charset=utf-8",
  json: "application/json", map: "application/json", webmanifest: "application/manifest+json",
  txt: "text/plain; charset=utf-8", md: "text/markdown; charset=utf-8", csv: "text/csv; charset=utf-8",
  xml: "application/xml", svg: "image/svg+xml", png: "image/png", jpg: "image/jpeg",
  jpeg: "image/jpeg", gif: "image/gif", webp: "image/webp", avif: "image/avif",
  ico: "image/vnd.microsoft.icon", woff: "font/woff", woff2: "font/woff2", ttf: "font/ttf",
  otf: "font/otf", wasm: "application/wasm", pdf: "application/pdf", zip: "application/zip",
  mp4: "video/mp4", webm: "video/webm", mp3: "audio/mpeg", wav: "audio/wav", ogg: "audio/ogg",
};

function contentType(path) {
  const dot = path.lastIndexOf(".");
  const ext = dot === -1 ? "" : path.slice(dot + 1).toLowerCase();
  return TYPES[ext] ?? "application/octet-stream";
}

async function exists(env, path) {
  const response = await env.ASSETS_DIR.fetch(`http://assets${encodeURI(path)}`, { method: "HEAD" });
  // workerd's disk service answers a directory with a JSON listing and no content-length.
  return response.ok && response.headers.get("content-length") !== null;
}

// The file a path names under html_handling, or a redirect to the canonical path.
async function resolve(env, config, pathname) {
  if (config.html_handling === "none") {
    return (await exists(env, pathname)) ? { file: pathname } : null;
  }
  if (pathname.endsWith("/index.html")) {
    return { redirect: pathname.slice(0, -"index.html".length) };
  }
  if (pathname.endsWith(".html")) {
    const bare = pathname.slice(0, -".html".length);
    return (await exists(env, pathname)) ? { redirect: bare } : null;
  }
  if (pathname.endsWith("/")) {
    if (await exists(env, `${pathname}index.html`)) return { file: `${pathname}index.html` };
    if (pathname !== "/" && (await exists(env, `${pathname.slice(0, -1)}.html`))) {
      return { redirect: pathname.slice(0, -1) };
    }
    return null;
  }
  if (await exists(env, pathname)) return { file: pathname };
  if (await exists(env, `${pathname}.html`)) return { file: `${pathname}.html` };
  if (await exists(env, `${pathname}/index.html`)) return { redirect: `${pathname}/` };
  return null;
}

async function serveFile(env, request, path, status = 200) {
  const file = await env.ASSETS_DIR.fetch(`http://assets${encodeURI(path)}`, {
    method: request.method === "HEAD" ? "HEAD" : "GET",
  });
  const headers = new Headers({
    "content-type": contentType(path),
    "cache-control": "public, max-age=0, must-revalidate",
  });
  const length = file.headers.get("content-length");
  if (length !== null) headers.set("content-length", length);
  return new Response(request.method === "HEAD" ? null : file.body, { status, headers });
}

async function notFound(env, config, request, pathname) {
  if (config.not_found_handling === "single-page-application") {
    return serveFile(env, request, "/index.html");
  }
  if (config.not_found_handling === "404-page") {
    const parts = pathname.split("/").slice(0, -1);
    while (parts.length > 0) {
      const candidate = `${parts.join("/")}/404.html`;
      if (await exists(env, candidate)) return serveFile(env, request, candidate, 404);
      parts.pop();
    }
  }
  return new Response(null, { status: 404 });
}

async function fromAssets(env, config, request) {
  if (request.method !== "GET" && request.method !== "HEAD") return null;
  const url = new URL(request.url);
  const pathname = decodeURIComponent(url.pathname);
  const found = await resolve(env, config, pathname);
  if (found?.redirect !== undefined) {
    return new Response(null, { status: 307, headers: { location: found.redirect + url.search } });
  }
  return found ? serveFile(env, request, found.file) : null;
}

export class AssetsBinding extends WorkerEntrypoint {
  async fetch(request) {
    const config = this.env.CONFIG;
    return (
      (await fromAssets(this.env, config, request)) ??
      notFound(this.env, config, request, new URL(request.url).pathname)
    );
  }
}

// What the Worker's port and a service binding's fetch() both get: assets first (unless
// run_worker_first), then the Worker.
async function route(env, request) {
  const config = env.CONFIG;
  if (!config.run_worker_first) {
    const asset = await fromAssets(env, config, request);
    if (asset) return asset;
  }
  if (env.USER_WORKER) return env.USER_WORKER.fetch(request);
  return (
    (await fromAssets(env, config, request)) ??
    notFound(env, config, request, new URL(request.url).pathname)
  );
}

// A service binding to this Worker (no named entrypoint): fetch() goes through the assets,
// as in production, and every other method or property is the Worker's own (RPC).
export class ServiceBinding extends WorkerEntrypoint {
  constructor(ctx, env) {
    super(ctx, env);
    return new Proxy(this, {
      get(target, name, receiver) {
        if (typeof name === "symbol" || name in target) return Reflect.get(target, name, receiver);
        return env.USER_WORKER[name];
      },
    });
  }

  fetch(request) {
    return route(this.env, request);
  }
}

export default {
  fetch(request, env) {
    return route(env, request);
  },
};
