declare module "*.wasm" { const module: WebAssembly.Module; export default module; }
declare module "*.wasm?module" { const module: WebAssembly.Module; export default module; }
declare module "*.txt" { const text: string; export default text; }
declare module "*.html" { const text: string; export default text; }
declare module "*.md" { const text: string; export default text; }
