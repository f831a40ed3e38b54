// scripts/install.sh --version: downloads a release from a loopback HTTP server that serves artifacts made here,
// verifies SHA256SUMS before anything is replaced, keeps the previous binary for --rollback; run piped as
// `curl … | bash -s -- …` it uses only the release's verified files; plain http and redirects to http are refused;
// with a stand-in systemctl, a service that does not come back after an upgrade is rolled back.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import process from "node:process";
import { writeInstallerAssets } from "../../scripts/build.mjs";

const ROOT = resolve(import.meta.dirname ?? new URL(".", import.meta.url).pathname, "..", "..");
const SCRIPT = join(ROOT, "scripts", "install.sh");
const tmp = mkdtempSync(join(tmpdir(), "cfw-install-dl-"));

/**
 * A stand-in release binary: a shell script that answers `version --json` like the real one. The stand-in systemctl
 * below starts it with `start-check`, which fails for a binary made with `startFails`.
 */
function fakeBinary(version: string, opts: { startFails?: boolean } = {}): string {
  return `#!/bin/sh\nif [ "$1" = version ]; then echo '{"version":"${version}","commit":"abc","target":"linux-x64"}'; fi\n` +
    (opts.startFails ? `if [ "$1" = start-check ]; then echo 'cannot start' >&2; exit 1; fi\n` : "");
}
const sha256 = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");

/**
 * Files served per URL path; `cut` paths send half their bytes and then drop the connection; a path under
 * /redirect/ answers with a redirect to the same path without that prefix, over plain http.
 */
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
    if (req.url?.startsWith("/redirect/")) {
      res.writeHead(302, { location: `${base.replace(/\/releases$/, "")}${req.url.slice("/redirect".length)}` }).end();
      return;
    }
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
  // A unit whose bytes differ from its SHA256SUMS line.
  publish("7.0.0", {
    "contentflow-worker-7.0.0-linux-x64": fakeBinary("7.0.0"),
    "contentflow-worker.service": unit,
    "contentflow-worker.env.template": envTemplate,
  });
  files.set("/releases/download/v7.0.0/contentflow-worker.service", unit + "ExecStartPre=/bin/evil\n");
  // A binary the service cannot start with, and a changed unit: both are put back when the restart fails.
  publish("8.0.0", {
    "contentflow-worker-8.0.0-linux-x64": fakeBinary("8.0.0", { startFails: true }),
    "contentflow-worker.service": unit + "# changed in 8.0.0\n",
    "contentflow-worker.env.template": envTemplate,
  });
  // The release's own installer assets as scripts/build.mjs writes them (install.sh with the release URL stamped).
  const assetDir = join(tmp, "installer-assets");
  for (const path of writeInstallerAssets(assetDir, "https://github.com/contentflow/contentflow-worker/releases")) {
    files.set(`/releases/latest/download/${path.slice(assetDir.length + 1)}`, readFileSync(path));
  }
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
const spawnSyncStatus = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status;
const installed = (root: string) => join(root, "usr/local/bin/contentflow-worker");

type Run = { code: number | null; out: string; stderr: string };

/** Runs a command without blocking this process (the HTTP server lives here); `out` is stdout and stderr. */
function run(argv: string[], opts: { env?: Record<string, string>; cwd?: string } = {}): Promise<Run> {
  return new Promise((res) => {
    const child = spawn(argv[0], argv.slice(1), {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", TMPDIR: tmp, ...opts.env },
      cwd: opts.cwd,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let stderr = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => {
      out += d;
      stderr += d;
    });
    child.on("close", (code) => res({ code, out, stderr }));
  });
}
const install = (args: string[], script = SCRIPT, env: Record<string, string> = {}) =>
  run(["bash", script, ...args], { env });
/** The script piped into bash, as the one-line install runs it: `cat install.sh | bash -s -- ARGS`. */
const piped = (args: string[], opts: { cwd?: string; env?: Record<string, string>; script?: string } = {}) =>
  run(["bash", "-c", 'cat "$0" | bash -s -- "$@"', opts.script ?? SCRIPT, ...args], opts);
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
        [["--version", "1.0.0", "--base-url", "ftp://x"], /not an https:\/\/ or file:\/\/ URL/],
        [["--rollback", "--version", "1.0.0"], /--rollback goes alone/],
      ] as Array<[string[], RegExp]>
    ) {
      const r = await install([...args, "--root", freshRoot()]);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.out}`);
      assert.match(r.out, message);
    }
  });
});

/** An empty directory to run in, holding a stray unit that must never be installed. */
function strayCwd(): string {
  const dir = join(tmp, `cwd-${++counter}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "contentflow-worker.service"), "[Service]\nExecStart=/tmp/stray\n");
  writeFileSync(join(dir, "contentflow-worker.env.template"), "STRAY=1\n");
  writeFileSync(join(dir, "contentflow-worker"), "#!/bin/sh\necho stray\n", { mode: 0o755 });
  return dir;
}
const unitOf = (root: string) => readFileSync(join(root, "etc/systemd/system/contentflow-worker.service"), "utf8");
const releaseUnit = () => readFileSync(join(ROOT, "deploy", "contentflow-worker.service"), "utf8");

describe("install.sh piped (curl … | bash -s -- …)", () => {
  test("the one-line install: quiet on stderr, only the release's verified files, none from the cwd", async () => {
    const root = freshRoot();
    const cwd = strayCwd();
    // The release's own install.sh (as build.mjs writes it), fetched and piped into bash.
    const r = await run([
      "bash",
      "-c",
      'curl -fsSL "$0/latest/download/install.sh" | bash -s -- --version latest --base-url "$0" ' +
      '--arch x64 --root "$1" --no-start',
      base,
      root,
    ], { cwd });
    assert.equal(r.code, 0, r.out);
    assert.equal(r.stderr, "", "nothing on stderr");
    assert.match(r.out, /checksums verified: contentflow-worker\.service and contentflow-worker\.env\.template/);
    assert.equal(readFileSync(installed(root), "utf8"), fakeBinary("1.1.0"));
    assert.doesNotMatch(unitOf(root), /stray/);
    const rendered = releaseUnit().replaceAll("@BINARY@", "/usr/local/bin/contentflow-worker")
      .replaceAll("@USER@", "contentflow-worker").replaceAll("@GROUP@", "contentflow-worker")
      .replaceAll("@ENV_FILE@", "/etc/contentflow-worker/env");
    assert.equal(unitOf(root), rendered);
    assert.equal(
      readFileSync(join(root, "etc/contentflow-worker/env"), "utf8"),
      readFileSync(join(ROOT, "deploy", "contentflow-worker.env.template"), "utf8"),
    );
  });

  test("a release without its unit in SHA256SUMS is refused piped (no template from the cwd)", async () => {
    const root = freshRoot();
    const r = await piped(["--version", "1.0.0", "--base-url", base, "--arch", "x64", "--root", root, "--no-start"], {
      cwd: strayCwd(),
    });
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /release 1\.0\.0 has no contentflow-worker\.service in SHA256SUMS.*nothing was changed/);
    assert.equal(existsSync(installed(root)), false);
  });

  test("a release unit that does not match SHA256SUMS is refused, piped or from a file", async () => {
    for (const how of ["piped", "file"]) {
      const root = freshRoot();
      const args = ["--version", "7.0.0", "--base-url", base, "--arch", "x64", "--root", root, "--no-start"];
      const r = how === "piped" ? await piped(args) : await install(args);
      assert.equal(r.code, 1, `${how}: ${r.out}`);
      assert.match(r.out, /checksum mismatch for contentflow-worker\.service.*nothing was changed/);
      assert.equal(existsSync(installed(root)), false);
    }
  });

  test("--help shows both forms; a local install is refused piped; --rollback works piped", async () => {
    const help = await piped(["--help"]);
    assert.equal(help.code, 0, help.out);
    assert.match(help.out, /^Usage: sudo bash install\.sh --version/m);
    assert.match(
      help.out,
      /curl -fsSL https:\/\/github\.com\/contentflow\/contentflow-worker\/releases\/latest\/download\/install\.sh \| sudo bash -s -- --version latest/,
    );
    assert.doesNotMatch(help.out, /sudo bash \[options\]|sudo bash -s --version/);
    const fromFile = await install(["--help"]);
    assert.match(fromFile.out, new RegExp(`^Usage: sudo bash ${SCRIPT.replace(/[.]/g, "\\.")} --version`, "m"));

    const local = await piped(["--root", freshRoot()], { cwd: strayCwd() });
    assert.equal(local.code, 2, local.out);
    assert.match(local.out, /piped, install\.sh installs a release/);

    const root = freshRoot();
    assert.equal((await dl(root, "1.0.0")).code, 0);
    assert.equal((await dl(root, "1.1.0")).code, 0);
    const back = await piped(["--rollback", "--root", root, "--no-start"], { cwd: strayCwd() });
    assert.equal(back.code, 0, back.out);
    assert.equal(back.stderr, "");
    assert.equal(readFileSync(installed(root), "utf8"), fakeBinary("1.0.0"));
  });

  test("CONTENTFLOW_WORKER_RELEASE_URL sets the default base URL (kept through sudo only with --preserve-env)", async () => {
    const root = freshRoot();
    const r = await piped(["--version", "1.1.0", "--arch", "x64", "--root", root, "--no-start"], {
      env: { CONTENTFLOW_WORKER_RELEASE_URL: base },
    });
    assert.equal(r.code, 0, r.out);
    assert.equal(readFileSync(installed(root), "utf8"), fakeBinary("1.1.0"));
  });
});

describe("install.sh transport rules", () => {
  test("plain http:// is refused except on a loopback address", async () => {
    for (
      const url of [
        "http://example.com/releases",
        "http://10.0.0.5/releases",
        "http://127.0.0.1.example.com/releases",
        "http://127.0.0.1@example.com/releases",
        "http://localhost.example.com/releases",
      ]
    ) {
      const r = await install(["--version", "1.1.0", "--base-url", url, "--root", freshRoot()]);
      assert.equal(r.code, 2, `${url}: ${r.out}`);
      assert.match(r.out, /plain http:\/\/ is refused/);
    }
  });

  test("a redirect to plain http is not followed (curl)", async () => {
    const root = freshRoot();
    const r = await dl(root, "1.1.0", ["--base-url", base.replace(/\/releases$/, "/redirect/releases")]);
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /could not download .*\/redirect\/releases\/download\/v1\.1\.0\/SHA256SUMS/);
    assert.equal(existsSync(installed(root)), false);
  });

  const hasWget = spawnSyncStatus("wget") === 0;
  test(
    "a redirect to plain http is refused (wget, no curl)",
    { skip: hasWget ? false : "wget is not installed" },
    async () => {
      // A PATH with everything of this one except curl.
      const bin = join(tmp, `no-curl-${++counter}`);
      mkdirSync(bin);
      for (const dir of (process.env.PATH ?? "/usr/bin:/bin").split(":")) {
        if (!existsSync(dir)) continue;
        for (const name of readdirSync(dir)) {
          if (name !== "curl" && !existsSync(join(bin, name))) symlinkSync(join(dir, name), join(bin, name));
        }
      }
      const root = freshRoot();
      const redirect = base.replace(/\/releases$/, "/redirect/releases");
      const args = ["--version", "1.1.0", "--arch", "x64", "--root", root, "--no-start"];
      const r = await install([...args, "--base-url", redirect], SCRIPT, { PATH: bin });
      assert.equal(r.code, 1, r.out);
      assert.match(r.out, /redirected to plain http:\/\/; refused/);
      assert.equal(existsSync(installed(root)), false);
      const direct = await install([...args, "--base-url", base], SCRIPT, { PATH: bin });
      assert.equal(direct.code, 0, "wget downloads without redirects: " + direct.out);
    },
  );
});

describe("install.sh --uninstall", () => {
  test("keeps the previous binary; --purge removes it too", async () => {
    const root = freshRoot();
    assert.equal((await dl(root, "1.0.0")).code, 0);
    assert.equal((await dl(root, "1.1.0")).code, 0);
    const un = await install(["--uninstall", "--root", root]);
    assert.equal(un.code, 0, un.out);
    assert.equal(existsSync(installed(root)), false);
    assert.equal(existsSync(installed(root) + ".previous"), true);
    assert.match(un.out, /kept .*contentflow-worker\.previous \(add --purge/);
    const purge = await install(["--uninstall", "--purge", "--root", root]);
    assert.equal(purge.code, 0, purge.out);
    assert.equal(existsSync(installed(root) + ".previous"), false);
    assert.match(purge.out, /removed \/usr\/local\/bin\/contentflow-worker\.previous/);
  });
});

describe("install.sh with a stand-in systemctl", () => {
  /**
   * A systemctl that logs its calls and keeps one service's state in a file: start/restart run the installed
   * binary with `start-check` and fail when it fails.
   */
  function fakeSystemctl(root: string) {
    const dir = join(tmp, `systemctl-${++counter}`);
    mkdirSync(dir);
    const path = join(dir, "systemctl");
    writeFileSync(
      path,
      `#!/bin/sh
echo "$*" >> "${dir}/log"
case "$1" in
  is-active) [ -f "${dir}/active" ] ;;
  start|restart)
    if "${installed(root)}" start-check; then touch "${dir}/active"; else rm -f "${dir}/active"; exit 1; fi ;;
  *) exit 0 ;;
esac
`,
      { mode: 0o755 },
    );
    return { env: { INSTALL_SH_SYSTEMCTL: path }, log: () => readFileSync(join(dir, "log"), "utf8") };
  }
  const seed = () => {
    const path = join(tmp, `seed-${++counter}`);
    writeFileSync(path, "COSMOS_DB_ENDPOINT=https://a.documents.azure.com:443/\n");
    return path;
  };
  const up = (root: string, version: string, env: Record<string, string>, extra: string[] = []) =>
    install(["--version", version, "--base-url", base, "--arch", "x64", "--root", root, ...extra], SCRIPT, env);

  test("a service that does not come back after an upgrade gets the previous binary and unit back", async () => {
    const root = freshRoot();
    const sc = fakeSystemctl(root);
    const first = await up(root, "1.1.0", sc.env, ["--env-file", seed()]);
    assert.equal(first.code, 0, first.out);
    assert.match(sc.log(), /^start contentflow-worker\.service$/m);
    const unitBefore = unitOf(root);

    const bad = await up(root, "8.0.0", sc.env);
    assert.equal(bad.code, 1, bad.out);
    assert.match(bad.stderr, /did not start after the upgrade; rolling back \(binary unit\)/);
    assert.match(bad.stderr, /upgrade failed: .*rolled back and runs the previous one again/);
    assert.equal(readFileSync(installed(root), "utf8"), fakeBinary("1.1.0"), "the previous binary is back");
    assert.equal(readFileSync(installed(root) + ".previous", "utf8"), fakeBinary("8.0.0", { startFails: true }));
    assert.equal(unitOf(root), unitBefore, "the previous unit is back");
    assert.equal(sc.log().match(/^restart /gm)?.length, 2, "restarted with the new binary, then with the old");
  });

  test("--rollback is a swap and restarts the service; a second --rollback swaps back", async () => {
    const root = freshRoot();
    const sc = fakeSystemctl(root);
    assert.equal((await up(root, "1.0.0", sc.env, ["--env-file", seed()])).code, 0);
    assert.equal((await up(root, "1.1.0", sc.env)).code, 0);
    const back = await install(["--rollback", "--root", root], SCRIPT, sc.env);
    assert.equal(back.code, 0, back.out);
    assert.equal(readFileSync(installed(root), "utf8"), fakeBinary("1.0.0"));
    const again = await install(["--rollback", "--root", root], SCRIPT, sc.env);
    assert.equal(again.code, 0, again.out);
    assert.equal(readFileSync(installed(root), "utf8"), fakeBinary("1.1.0"), "a second --rollback swaps back");
    assert.equal(sc.log().match(/^restart /gm)?.length, 3);
  });
});
