// The compiled binary for end-to-end tests: built by scripts/build.mjs (the one build script) when missing or older
// than src/; and one run of it as a command (`worker --role=…`, `poison …`) with its output and exit code.
import process from "node:process";
import { spawn, spawnSync } from "node:child_process";
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

/** How a command run of the binary ended. */
export interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout and stderr interleaved as they came. */
  output: string;
}

export interface StartedBinary {
  pid: number;
  /** Resolves once the process exited and its output is read; rejects after `timeoutMs` (the process is killed). */
  finished: Promise<Finished>;
}

/** Runs `binary args` with exactly `env` in `cwd`; SIGKILL and a rejection naming the command after `timeoutMs`. */
export function startBinary(
  binary: string,
  args: string[],
  opts: { env: Record<string, string>; cwd: string; timeoutMs?: number },
): StartedBinary {
  const timeoutMs = opts.timeoutMs ?? 180_000;
  const child = spawn(binary, args, { cwd: opts.cwd, env: opts.env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  let output = "";
  child.stdout!.on("data", (d) => {
    stdout += d;
    output += d;
  });
  child.stderr!.on("data", (d) => {
    stderr += d;
    output += d;
  });
  const finished = new Promise<Finished>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${args.join(" ")} did not finish in ${timeoutMs} ms:\n${output}`));
    }, timeoutMs);
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, output });
    });
  });
  return { pid: child.pid!, finished };
}

/** PATH of this process: what a binary started by a test needs of the environment besides its settings. */
export function basicEnv(): Record<string, string> {
  return { PATH: process.env.PATH ?? "" };
}
