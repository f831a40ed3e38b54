// The compiled binary for end-to-end tests: built by scripts/build.mjs (the one build script) when missing or older
// than src/.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";

export const ROOT = resolve(import.meta.dirname ?? ".", "../..");
export const BINARY = join(ROOT, "dist", "contentflow-worker");

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSource(p) : statSync(p).mtimeMs);
  }
  return newest;
}

export function ensureBinary(): string {
  if (existsSync(BINARY) && statSync(BINARY).mtimeMs >= newestSource(join(ROOT, "src"))) return BINARY;
  const r = spawnSync("node", [join(ROOT, "scripts", "build.mjs"), "--out", BINARY], { cwd: ROOT, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`scripts/build.mjs failed:\n${r.stdout}\n${r.stderr}`);
  return BINARY;
}
