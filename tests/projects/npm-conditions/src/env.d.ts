declare module "runtime-kit/features/*" { export const feature: string; }
declare module "edge-only" { export const edge: string; }
declare module "legacy-widget" { const widget: () => string; export default widget; }
