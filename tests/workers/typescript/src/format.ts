import isNumber from "is-number";

export function describe(value: unknown, unit: string): string {
  return isNumber(value) ? `${value} ${unit}²` : `not a number: ${String(value)}`;
}
