// Only its types are used by the handler: esbuild drops the import.
export interface SandboxClient {
  run(command: string): Promise<string>;
}

export type SessionId = `session-${string}`;

export const SANDBOX_TIMEOUT_MS = 30_000;
