// The compiled binary for end-to-end tests: built with `bun build --compile` when missing or older than src/.
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
  const bun = join(ROOT, "node_modules", ".bin", "bun");
  const r = spawnSync(bun, [
    "build",
    "--compile",
    "--minify",
    "--bytecode",
    "--format=esm",
    "src/main.ts",
    "--outfile",
    BINARY,
  ], {
    cwd: ROOT,
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(`bun build --compile failed:\n${r.stdout}\n${r.stderr}`);
  return BINARY;
}
