/** Parses a JSON column written by this store; a corrupt value is a store bug, so it throws. */
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the caller names the column's stored shape
export function readJson<T>(text: string): T {
  return JSON.parse(text) as T;
}

/** Drops keys whose value is null or undefined, so optional fields stay absent (exactOptionalPropertyTypes). */
export function compact<T extends Record<string, unknown>>(value: T): { [K in keyof T]: Exclude<T[K], null> } {
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) if (v !== null && v !== undefined) out[key] = v;
  return out as { [K in keyof T]: Exclude<T[K], null> };
}
