// What `wrangler types` generates: declarations only, no module behind them at run time.
interface Env {
  CF_VERSION_METADATA: { id: string; tag: string; timestamp: string };
}
export type { Env };
