/** Names derived from C names, in one place so every generator agrees. */

/** evtchn_alloc_unbound → EvtchnAllocUnbound */
export function pascalCase(cName: string): string {
  return cName
    .split(/_+/)
    .filter((p) => p.length > 0)
    .map((p) => p[0]!.toUpperCase() + p.slice(1))
    .join("");
}

/** alloc_unbound → allocUnbound */
export function camelCase(cName: string): string {
  const p = pascalCase(cName);
  return p[0]!.toLowerCase() + p.slice(1);
}
