// The compiled binary as the container image runs it (deploy/Dockerfile), as far as that goes without docker: a
// non-root uid/gid (65532, through setpriv when the tests run as root), no HOME or TMPDIR, a working directory it
// cannot write, API_HOST=0.0.0.0 with a token. With App Configuration unreachable (no emulators needed) the
// supervisor waits, and the liveness paths answer: `/` with the Python worker's open JSON (the reference Container
// App probes `/`), /health 200.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { chmodSync, mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureBinary } from "../helpers/binary.ts";
import { freePort, waitingApiPort, type WatchedProcess, watchProcess } from "../helpers/e2e-kit.ts";
import { fakeAppConfigConnectionString } from "../helpers/fake-appconfig.ts";

const IMAGE_UID = 65532; // USER in deploy/Dockerfile

/** The command that runs `binary args` as the image's user: setpriv when root, as this (non-root) user otherwise. */
function asImageUser(binary: string, args: string[]): { command: string; args: string[] } {
  if (process.getuid?.() !== 0) return { command: binary, args };
  return {
    command: "setpriv",
    args: [`--reuid=${IMAGE_UID}`, `--regid=${IMAGE_UID}`, "--clear-groups", "--", binary, ...args],
  };
}

describe("compiled binary under the container image's user and settings", () => {
  let supervisor: WatchedProcess | undefined;
  let cwd = "";

  before(async () => {
    const binary = ensureBinary();
    cwd = mkdtempSync(join(tmpdir(), "cfw-e2e-image-"));
    chmodSync(cwd, 0o555); // nobody may write here (root still could: the binary does not run as root)
    const run = asImageUser(binary, []);
    supervisor = watchProcess(run.command, run.args, {
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
    });
  });

  after(async () => {
    await supervisor?.kill();
    chmodSync(cwd, 0o755);
  });

  test("/ answers the open service JSON and /health 200; nothing is written", async () => {
    const { proc, lines } = supervisor!;
    const port = await waitingApiPort(supervisor!);
    const root = await fetch(`http://127.0.0.1:${port}/`);
    assert.equal(root.status, 200, lines.join("\n"));
    const body = await root.json();
    assert.equal(body.service, "contentflow-worker");
    assert.equal(body.worker_name, "image-test");
    assert.equal(typeof body.version, "string");
    assert.equal((await fetch(`http://127.0.0.1:${port}/health`)).status, 200);
    // The token-protected parts stay closed.
    assert.equal((await fetch(`http://127.0.0.1:${port}/metrics`)).status, 503);
    assert.equal(proc.exitCode, null, lines.join("\n"));
    assert.deepEqual(readdirSync(cwd), []);
    const problems = lines.filter((l) => /EACCES|EROFS|permission denied|read-only file system/i.test(l));
    assert.deepEqual(problems, []);
  });
});
