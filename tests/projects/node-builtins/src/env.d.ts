declare module "hash-id" { const hashId: (text: string) => string; export default hashId; }
