import { type SandboxClient, SANDBOX_TIMEOUT_MS } from "./sandbox-client";
import type { SessionId } from "./sandbox-client";
import { slugify } from "./text";

export interface Recipe {
  id: SessionId;
  title: string;
}

export function recipe(title: string, _client?: SandboxClient): Recipe {
  return { id: `session-${slugify(title)}`, title };
}
