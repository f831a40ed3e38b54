// scripts/install.sh --version: downloads a release from a loopback HTTP server that serves artifacts made here,
// verifies SHA256SUMS before anything is replaced, keeps the previous binary for --rollback.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import process from "node:process";

const ROOT = resolve(import.meta.dirname ?? new URL(".", import.meta.url).pathname, "..", "..");
const SCRIPT = join(ROOT, "scripts", "install.sh");
const tmp = mkdtempSync(join(tmpdir(), "cfw-install-dl-"));

/** A stand-in release binary: a shell script that answers `version --json` like the real one. */
function fakeBinary(version: string): string {
  return `#!/bin/sh\nif [ "$1" = version ]; then echo '{"version":"${version}","commit":"abc","target":"linux-x64"}'; fi\n`;
}
const sha256 = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");

/** Files served per URL path; `cut` paths send half their bytes and then drop the connection. */
const files = new Map<string, string | Buffer>();
const cut = new Set<string>();
let server: Server;
let base = "";

function publish(version: string, assets: Record<string, string | Buffer>, opts: { latest?: boolean } = {}) {
  const sums = Object.entries(assets).map(([name, data]) => `${sha256(data)}  ${name}`).join("\n") + "\n";
  for (const dir of [`/releases/download/v${version}`, ...(opts.latest ? ["/releases/latest/download"] : [])]) {
    files.set(`${dir}/SHA256SUMS`, sums);
    for (const [name, data] of Object.entries(assets)) files.set(`${dir}/${name}`, data);
  }
}

before(async () => {
  server = createServer((req, res) => {
    const body = files.get(req.url ?? "");
    if (body === undefined) {
      res.writeHead(404).end("not found");
      return;
    }
    const bytes = Buffer.from(body);
    res.writeHead(200, { "content-length": String(bytes.length), "content-type": "application/octet-stream" });
    if (cut.has(req.url ?? "")) {
      res.write(bytes.subarray(0, Math.floor(bytes.length / 2)));
      setTimeout(() => res.socket?.destroy(), 50);
      return;
    }
    res.end(bytes);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/releases`;

  const unit = readFileSync(join(ROOT, "deploy", "contentflow-worker.service"), "utf8");
  const envTemplate = readFileSync(join(ROOT, "deploy", "contentflow-worker.env.template"), "utf8");
  publish("1.0.0", { "contentflow-worker-1.0.0-linux-x64": fakeBinary("1.0.0") });
  publish("1.1.0", {
    "contentflow-worker-1.1.0-linux-x64": fakeBinary("1.1.0"),
    "contentflow-worker-1.1.0-linux-arm64": fakeBinary("1.1.0"),
    "contentflow-worker.service": unit,
    "contentflow-worker.env.template": envTemplate,
  }, { latest: true });
  // Checksum of one binary, bytes of another.
  publish("2.0.0", { "contentflow-worker-2.0.0-linux-x64": fakeBinary("2.0.0") });
  files.set("/releases/download/v2.0.0/contentflow-worker-2.0.0-linux-x64", fakeBinary("2.0.0") + "# tampered\n");
  // Listed in SHA256SUMS, but the asset itself is missing.
  publish("3.0.0", { "contentflow-worker-3.0.0-linux-x64": fakeBinary("3.0.0") });
  files.delete("/releases/download/v3.0.0/contentflow-worker-3.0.0-linux-x64");
  // The transfer stops half way.
  publish("4.0.0", { "contentflow-worker-4.0.0-linux-x64": fakeBinary("4.0.0") + "#".repeat(200_000) });
  cut.add("/releases/download/v4.0.0/contentflow-worker-4.0.0-linux-x64");
  // Bytes that are no program this machine runs (another architecture's binary looks the same to the shell).
  publish("5.0.0", { "contentflow-worker-5.0.0-linux-x64": Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, 0xb7]) });
  // Runs, but says it is another version.
  publish("6.0.0", { "contentflow-worker-6.0.0-linux-x64": fakeBinary("5.9.9") });
});

after(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  rmSync(tmp, { recursive: true, force: true });
});

let counter = 0;
const freshRoot = () => {
  const dir = join(tmp, `root-${++counter}`);
  mkdirSync(dir, { recursive: true });
  return dir;
};
const installed = (root: string) => join(root, "usr/local/bin/contentflow-worker");

/** Runs install.sh without blocking this process (the HTTP server lives here). */
function install(args: string[], script = SCRIPT): Promise<{ code: number | null; out: string }> {
  return new Promise((res) => {
    const child = spawn("bash", [script, ...args], {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", TMPDIR: tmp },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    child.on("close", (code) => res({ code, out }));
  });
}
const dl = (root: string, version: string, extra: string[] = []) =>
  install(["--version", version, "--base-url", base, "--arch", "x64", "--root", root, "--no-start", ...extra]);

describe("install.sh --version (download)", () => {
  test("downloads, verifies and installs the asset for the architecture", async () => {
    const root = freshRoot();
    const r = await dl(root, "1.1.0");
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /checksum verified: contentflow-worker-1\.1\.0-linux-x64/);
    assert.equal(readFileSync(installed(root), "utf8"), fakeBinary("1.1.0"));
  });

  test("latest resolves the version from the latest release's SHA256SUMS", async () => {
    const root = freshRoot();
    const r = await dl(root, "latest");
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /latest\/download\/contentflow-worker-1\.1\.0-linux-x64/);
    assert.equal(readFileSync(installed(root), "utf8"), fakeBinary("1.1.0"));
  });

  test("an upgrade keeps the replaced binary, and --rollback puts it back", async () => {
    const root = freshRoot();
    assert.equal((await dl(root, "1.0.0")).code, 0);
    const up = await dl(root, "1.1.0");
    assert.equal(up.code, 0, up.out);
    assert.equal(readFileSync(installed(root) + ".previous", "utf8"), fakeBinary("1.0.0"));
    const back = await install(["--rollback", "--root", root, "--no-start"]);
    assert.equal(back.code, 0, back.out);
    assert.equal(readFileSync(installed(root), "utf8"), fakeBinary("1.0.0"));
    assert.equal(readFileSync(installed(root) + ".previous", "utf8"), fakeBinary("1.1.0"));
  });

  test("--rollback without a previous binary refuses", async () => {
    const r = await install(["--rollback", "--root", freshRoot(), "--no-start"]);
    assert.equal(r.code, 1);
    assert.match(r.out, /no previous binary/);
  });

  const refusals: Array<[string, string, string[], RegExp]> = [
    ["bad checksum", "2.0.0", [], /checksum mismatch for contentflow-worker-2\.0\.0-linux-x64/],
    ["missing asset", "3.0.0", [], /could not download .*v3\.0\.0\/contentflow-worker-3\.0\.0-linux-x64/],
    ["interrupted download", "4.0.0", [], /could not download .*contentflow-worker-4\.0\.0-linux-x64/],
    [
      "no asset for the architecture",
      "1.1.0",
      ["--arch", "x64-musl"],
      /no binary for linux-x64-musl \(it has: x64 arm64/,
    ],
    ["a binary this machine cannot run", "5.0.0", [], /does not run on this machine/],
    ["a binary that reports another version", "6.0.0", [], /reports .*5\.9\.9.*not version 6\.0\.0/],
    ["no such release", "9.9.9", [], /could not download .*v9\.9\.9\/SHA256SUMS/],
  ];
  for (const [what, version, extra, message] of refusals) {
    test(`refuses and changes nothing: ${what}`, async () => {
      const root = freshRoot();
      assert.equal((await dl(root, "1.0.0")).code, 0);
      const r = await dl(root, version, extra);
      assert.equal(r.code, 1, r.out);
      assert.match(r.out, message);
      assert.match(r.out, /nothing was changed/);
      assert.equal(readFileSync(installed(root), "utf8"), fakeBinary("1.0.0"), "the installed binary is untouched");
      assert.equal(existsSync(installed(root) + ".previous"), false);
    });
  }

  test("run without the repository beside it, it takes the unit and env template from the release", async () => {
    const alone = join(tmp, "alone");
    mkdirSync(alone, { recursive: true });
    copyFileSync(SCRIPT, join(alone, "install.sh"));
    const root = freshRoot();
    const r = await install(
      ["--version", "1.1.0", "--base-url", base, "--arch", "x64", "--root", root, "--no-start"],
      join(alone, "install.sh"),
    );
    assert.equal(r.code, 0, r.out);
    const unit = readFileSync(join(root, "etc/systemd/system/contentflow-worker.service"), "utf8");
    assert.match(unit, /ExecStart=\/usr\/local\/bin\/contentflow-worker/);
    assert.ok(existsSync(join(root, "etc/contentflow-worker/env")));
  });

  test("usage errors exit 2", async () => {
    for (
      const [args, message] of [
        [["--version", "1.2"], /not X\.Y\.Z or latest/],
        [["--version", "1.0.0", "--binary", "/bin/true"], /exclude each other/],
        [["--version", "1.0.0", "--arch", "sparc"], /--arch 'sparc'/],
        [["--version", "1.0.0", "--base-url", "ftp://x"], /not an http\(s\):\/\/ or file:\/\/ URL/],
        [["--rollback", "--version", "1.0.0"], /--rollback goes alone/],
      ] as Array<[string[], RegExp]>
    ) {
      const r = await install([...args, "--root", freshRoot()]);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.out}`);
      assert.match(r.out, message);
    }
  });
});
