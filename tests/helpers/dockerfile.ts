// deploy/Dockerfile read without a Docker engine: its instructions, and the HEALTHCHECK command as an argv. Used by
// tests/unit/dockerfile.test.ts (the lint) and tests/e2e/container-like-binary.test.ts (runs the health check).
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dirname ?? ".", "../..");
export const DOCKERFILE = join(ROOT, "deploy", "Dockerfile");

export interface Instruction {
  op: string;
  args: string;
}

/** Dockerfile instructions in order: `\` continuations joined, comment and blank lines dropped. */
export function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!pending && (line === "" || line.startsWith("#"))) continue;
    if (pending && line.startsWith("#")) continue;
    if (line.endsWith("\\")) {
      pending += line.slice(0, -1) + " ";
      continue;
    }
    const full = (pending + line).trim();
    pending = "";
    const m = /^(\w+)\s+([\s\S]*)$/.exec(full);
    if (!m) throw new Error(`Dockerfile: cannot parse instruction "${full}"`);
    out.push({ op: m[1].toUpperCase(), args: m[2].trim() });
  }
  if (pending) throw new Error("Dockerfile: ends inside a continued line");
  return out;
}

/** The HEALTHCHECK's command as an argv (exec form), options dropped. */
export function healthcheckArgv(instructions: Instruction[]): string[] {
  const hc = instructions.find((i) => i.op === "HEALTHCHECK");
  if (!hc) throw new Error("Dockerfile: no HEALTHCHECK");
  const m = /\bCMD\s+(\[[\s\S]*\])\s*$/.exec(hc.args);
  if (!m) throw new Error(`Dockerfile: HEALTHCHECK is not in exec form: ${hc.args}`);
  return JSON.parse(m[1]);
}
