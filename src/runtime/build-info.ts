// What this executable is: version, git commit, build date and target, baked in by scripts/build.mjs
// (`bun build --define`). Run from source (deno/bun), the version comes from package.json and the rest says so.
import pkg from "../../package.json" with { type: "json" };
import { runtimeName } from "./index.ts";

declare const CONTENTFLOW_WORKER_BUILD: { version: string; commit: string; date: string; target: string } | undefined;

export interface BuildInfo {
  version: string;
  commit: string;
  build_date: string;
  target: string;
  runtime: string;
}

let cached: BuildInfo | undefined;

export function buildInfo(): BuildInfo {
  if (cached) return cached;
  const baked = typeof CONTENTFLOW_WORKER_BUILD === "undefined" ? undefined : CONTENTFLOW_WORKER_BUILD;
  cached = {
    version: baked?.version ?? pkg.version,
    commit: baked?.commit ?? "unknown (run from source)",
    build_date: baked?.date ?? "unknown (run from source)",
    target: baked?.target ?? `${process.platform}-${process.arch} (run from source)`,
    runtime: runtimeName(),
  };
  return cached;
}
