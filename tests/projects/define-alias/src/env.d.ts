declare module "node-only-logger" { export const lines: string[]; export function log(line: string): void; }
declare module "fetch-lite" { export const client: string; }
declare const process: { env: Record<string, string | undefined> };
