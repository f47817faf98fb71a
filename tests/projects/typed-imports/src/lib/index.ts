// A barrel: every kind of re-export.
export * from "./recipes";
export { shout as loud, slugify } from "./text";
export { default as initials } from "./text";
export type { SandboxClient } from "./sandbox-client";
export * as text from "./text";
