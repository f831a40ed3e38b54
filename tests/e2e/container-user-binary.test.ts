// The compiled binary as the container image runs it (deploy/Dockerfile), as far as that goes without docker: a
// non-root uid/gid (65532, through setpriv when the tests run as root), no HOME or TMPDIR, a working directory it
// cannot write, API_HOST=0.0.0.0 with a token. With App Configuration unreachable (no emulators needed) the
// supervisor waits, and the liveness paths answer: `/` with the Python worker's open JSON (the reference Container
// App probes `/`), /health 200.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { createServer } from "node:net";
import { chmodSync, mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureBinary } from "../helpers/binary.ts";
import { until } from "../helpers/wait.ts";
import { fakeAppConfigConnectionString } from "../helpers/fake-appconfig.ts";

const IMAGE_UID = 65532; // USER in deploy/Dockerfile

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** The command that runs `binary args` as the image's user: setpriv when root, as this (non-root) user otherwise. */
function asImageUser(binary: string, args: string[]): { command: string; args: string[] } {
  if (process.getuid?.() !== 0) return { command: binary, args };
  return {
    command: "setpriv",
    args: [`--reuid=${IMAGE_UID}`, `--regid=${IMAGE_UID}`, "--clear-groups", "--", binary, ...args],
  };
}

describe("compiled binary under the container image's user and settings", () => {
  let proc: ChildProcess | undefined;
  let exited: Promise<number | null>;
  const lines: string[] = [];
  let cwd = "";

  before(async () => {
    const binary = ensureBinary();
    cwd = mkdtempSync(join(tmpdir(), "cfw-e2e-image-"));
    chmodSync(cwd, 0o555); // nobody may write here (root still could: the binary does not run as root)
    const run = asImageUser(binary, []);
    proc = spawn(run.command, run.args, {
      cwd,
      // Exactly what the image's ENV and the Container App give, no HOME, no TMPDIR.
      env: {
        PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        API_HOST: "0.0.0.0",
        API_PORT: "0",
        API_TOKEN: "image-test-token-0123456789",
        WORKER_NAME: "image-test",
        AZURE_APP_CONFIG_CONNECTION_STRING: fakeAppConfigConnectionString(await freePort()),
        CFW_APP_CONFIG_ALLOW_INSECURE: "1",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    exited = new Promise((r) => proc!.once("exit", (code) => r(code)));
    createInterface({ input: proc.stdout! }).on("line", (l) => lines.push(l));
    createInterface({ input: proc.stderr! }).on("line", (l) => lines.push(`stderr: ${l}`));
  });

  after(async () => {
    if (proc && proc.exitCode === null) {
      proc.kill("SIGKILL");
      await exited;
    }
    chmodSync(cwd, 0o755);
  });

  const records = () =>
    lines.flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    });

  test("/ answers the open service JSON and /health 200; nothing is written", async () => {
    const port = await until("the waiting API's listening line", () => {
      const r = records().find((r) => r.msg === "api listening while waiting for App Configuration");
      return r ? r.port as number : undefined;
    }, 60_000);
    const root = await fetch(`http://127.0.0.1:${port}/`);
    assert.equal(root.status, 200, lines.join("\n"));
    const body = await root.json();
    assert.equal(body.service, "contentflow-worker");
    assert.equal(body.worker_name, "image-test");
    assert.equal(typeof body.version, "string");
    assert.equal((await fetch(`http://127.0.0.1:${port}/health`)).status, 200);
    // The token-protected parts stay closed.
    assert.equal((await fetch(`http://127.0.0.1:${port}/metrics`)).status, 503);
    assert.equal(proc!.exitCode, null, lines.join("\n"));
    assert.deepEqual(readdirSync(cwd), []);
    const problems = lines.filter((l) => /EACCES|EROFS|permission denied|read-only file system/i.test(l));
    assert.deepEqual(problems, []);
  });
});
