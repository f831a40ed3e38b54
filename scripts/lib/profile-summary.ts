// Where the samples of a V8/JSC .cpuprofile (Deno --cpu-prof, Bun --cpu-prof) went, by origin: our code (src/), the
// Azure SDKs (@azure/*, @typespec/*), other libraries from node_modules, and the runtime (node: and internal
// modules, native code with no JavaScript caller). A native function (JSON.stringify, fetch, a pipe write) counts
// for the nearest JavaScript caller's origin and is also listed on its own, so "our code calling fetch" shows as such.
import { readFileSync } from "node:fs";

interface CallFrame {
  functionName: string;
  url: string;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
}

export interface ProfileSummary {
  samples: number;
  /**
   * Share of samples (0-1) by origin, largest first: `js` in its own JavaScript, `native` in native functions it
   * called (the runtime's fetch, JSON, pipe writes: runtime work, but asked for by that origin).
   */
  byOrigin: Array<{ origin: string; js: number; native: number; share: number }>;
  /** Share by package or src/ folder, largest first. */
  byPackage: Array<{ name: string; share: number }>;
  /** Native functions by the origin of their caller, largest first. */
  natives: Array<{ name: string; share: number }>;
}

/** Package name or src/ folder of a script URL; undefined for native code (no URL). */
export function packageOf(url: string): string | undefined {
  if (!url || url.startsWith("[")) return undefined;
  const inModules = url.split("node_modules/");
  if (inModules.length > 1) {
    const parts = inModules.at(-1)!.split("/");
    return parts[0].startsWith("@") ? `${parts[0]}/${parts[1]}` : parts[0];
  }
  const inSrc = url.split("/src/");
  if (inSrc.length > 1) return `src/${inSrc.at(-1)!.split("/")[0]}`;
  if (/^(node:|internal:|ext:|bun:)/.test(url)) return "runtime";
  return url;
}

const packageJson = JSON.parse(
  readFileSync(new URL("../../package.json", import.meta.url), "utf8"),
) as { dependencies?: Record<string, string> };
const DIRECT_DEPENDENCIES = new Set(Object.keys(packageJson.dependencies ?? {}));

/**
 * The origin group of a package name from packageOf. A package that package.json does not list is a dependency of
 * a library (for this worker mostly the storage SDK's XML parser), counted with the Azure SDKs.
 */
export function originOf(pkg: string): string {
  if (pkg.startsWith("src/")) return "our code (src/)";
  if (pkg === "runtime") return "runtime (node:/internal modules)";
  if (pkg.startsWith("@azure/") || pkg.startsWith("@typespec/") || !DIRECT_DEPENDENCIES.has(pkg)) {
    return "Azure SDKs and the libraries they use";
  }
  return "other libraries we use (valibot, yaml, …)";
}

export function summarizeProfile(file: string): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const hits = new Map<number, number>();
  for (const id of profile.samples) hits.set(id, (hits.get(id) ?? 0) + 1);
  const byPackage = new Map<string, number>();
  const nativeByPackage = new Map<string, number>();
  const natives = new Map<string, number>();
  let total = 0;
  for (const [id, count] of hits) {
    total += count;
    const self = nodes.get(id)!.callFrame;
    let pkg: string | undefined;
    for (let cur: number | undefined = id; cur !== undefined && pkg === undefined; cur = parent.get(cur)) {
      pkg = packageOf(nodes.get(cur)!.callFrame.url);
    }
    const name = pkg ?? "runtime";
    byPackage.set(name, (byPackage.get(name) ?? 0) + count);
    if (packageOf(self.url) === undefined) {
      nativeByPackage.set(name, (nativeByPackage.get(name) ?? 0) + count);
      if (self.functionName && !self.functionName.startsWith("(")) {
        const key = `${self.functionName} (native, called from ${name})`;
        natives.set(key, (natives.get(key) ?? 0) + count);
      }
    }
  }
  const byOrigin = new Map<string, { js: number; native: number }>();
  for (const [pkg, count] of byPackage) {
    const entry = byOrigin.get(originOf(pkg)) ?? { js: 0, native: 0 };
    const native = nativeByPackage.get(pkg) ?? 0;
    entry.native += native;
    entry.js += count - native;
    byOrigin.set(originOf(pkg), entry);
  }
  const sorted = <K extends string>(m: Map<string, number>, key: K) =>
    [...m].sort((a, b) => b[1] - a[1]).map(([k, v]) =>
      ({ [key]: k, share: v / total }) as Record<K, string> & {
        share: number;
      }
    );
  return {
    samples: total,
    byOrigin: [...byOrigin].map(([origin, { js, native }]) => ({
      origin,
      js: js / total,
      native: native / total,
      share: (js + native) / total,
    })).sort((a, b) => b.share - a.share),
    byPackage: sorted(byPackage, "name"),
    natives: sorted(natives, "name"),
  };
}

/** The summary as Markdown lines: origins, then the top packages and native functions. */
export function renderProfileSummary(s: ProfileSummary, top = 12): string {
  const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
  return [
    `${s.samples} samples`,
    "",
    "| origin | its JavaScript | native code it called | together |",
    "|---|---|---|---|",
    ...s.byOrigin.map((o) => `| ${o.origin} | ${pct(o.js)} | ${pct(o.native)} | ${pct(o.share)} |`),
    "",
    "| package or folder (native calls counted for their caller) | share |",
    "|---|---|",
    ...s.byPackage.slice(0, top).map((p) => `| ${p.name} | ${pct(p.share)} |`),
    "",
    "| native function | share |",
    "|---|---|",
    ...s.natives.slice(0, top).map((n) => `| ${n.name} | ${pct(n.share)} |`),
  ].join("\n");
}
