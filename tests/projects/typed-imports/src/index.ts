import { initials, loud, recipe, text, type SandboxClient } from "./lib";
import type { Recipe } from "./lib";
import { SANDBOX_TIMEOUT_MS } from "./lib/sandbox-client";
import type { Env } from "../worker-configuration";

function describe(recipe: Recipe, client?: SandboxClient): string {
  return `${recipe.title} (${recipe.id})${client ? " with a sandbox" : ""}`;
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === "/version") return Response.json(env.CF_VERSION_METADATA);
    const title = url.searchParams.get("title") ?? "Hello Sandbox World";
    return Response.json({
      recipe: recipe(title),
      described: describe(recipe(title)),
      loud: loud(title),
      initials: initials(title),
      slug: text.slugify(title),
    });
  },
};
