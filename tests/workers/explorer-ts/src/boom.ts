// The frame the request log must point at: this file, this line.
export function explode(reason: string): never {
  throw new Error(`typed probe: ${reason}`);
}
