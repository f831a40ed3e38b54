// scripts/install.sh run into a temporary root (--root / DESTDIR): no user, no chown, no systemctl.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import process from "node:process";
import { SETTING_NAMES, settingMeta } from "../../src/config/schema.ts";

const ROOT = resolve(import.meta.dirname ?? new URL(".", import.meta.url).pathname, "..", "..");
const SCRIPT = join(ROOT, "scripts", "install.sh");
const UNIT_TEMPLATE = join(ROOT, "deploy", "contentflow-worker.service");
const ENV_TEMPLATE = join(ROOT, "deploy", "contentflow-worker.env.template");
const tmp = mkdtempSync(join(tmpdir(), "cfw-install-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

let counter = 0;
function freshDir(name: string): string {
  const dir = join(tmp, `${name}-${++counter}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

function fakeBinary(content = "v1"): string {
  const path = join(freshDir("bin"), "contentflow-worker");
  writeFileSync(path, `#!/bin/sh\n# fake contentflow-worker ${content}\nexit 0\n`);
  chmodSync(path, 0o755);
  return path;
}

function install(args: string[], env: Record<string, string> = {}, script = SCRIPT) {
  const r = spawnSync("bash", [script, ...args], {
    encoding: "utf8",
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env },
  });
  return { code: r.status, out: r.stdout + r.stderr };
}

const mode = (path: string) => statSync(path).mode & 0o777;
const unitPath = (root: string) => join(root, "etc/systemd/system/contentflow-worker.service");
const envPath = (root: string) => join(root, "etc/contentflow-worker/env");

/** `Key=value` lines of a unit file (last one wins, as in systemd). */
function unitDirectives(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split("\n")) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (m) out.set(m[1], m[2]);
  }
  return out;
}

describe("install.sh: options", () => {
  test("--help exits 0 with the usage; unknown options and bad values exit 2", () => {
    const help = install(["--help"]);
    assert.equal(help.code, 0);
    assert.match(help.out, /Usage: sudo .*install\.sh/);
    for (
      const opt of [
        "--uninstall",
        "--purge",
        "--root DIR",
        "--no-start",
        "--env-file PATH",
        "--user NAME",
        "--prefix DIR",
        "--binary PATH",
      ]
    ) {
      assert.ok(help.out.includes(opt), `help mentions ${opt}`);
    }
    const unknown = install(["--frobnicate"]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.out, /unknown option --frobnicate/);
    assert.equal(install(["--prefix", "relative/dir", "--root", freshDir("r")]).code, 2);
    assert.equal(install(["--user", "Bad User", "--root", freshDir("r")]).code, 2);
    assert.equal(install(["--purge", "--root", freshDir("r")]).code, 2);
    assert.match(install(["--binary"]).out, /--binary needs a value/);
  });

  test("a missing binary is a clear error", () => {
    const r = install(["--root", freshDir("r"), "--binary", join(tmp, "nope")]);
    assert.equal(r.code, 1);
    assert.match(r.out, /--binary .*nope: no such file/);
  });
});

describe("install.sh: into a temporary root", () => {
  test("installs binary, env file (0600) and unit; says why systemctl is skipped", () => {
    const root = freshDir("root");
    const bin = fakeBinary();
    const r = install(["--root", root, "--binary", bin, "--prefix", "/opt/cfw", "--user", "cfw"]);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /skipping user creation, ownership changes and systemctl/);

    const installedBin = join(root, "opt/cfw/bin/contentflow-worker");
    assert.equal(readFileSync(installedBin, "utf8"), readFileSync(bin, "utf8"));
    assert.equal(mode(installedBin), 0o755);

    assert.equal(mode(envPath(root)), 0o600);
    assert.equal(mode(join(root, "etc/contentflow-worker")), 0o750);
    assert.equal(readFileSync(envPath(root), "utf8"), readFileSync(ENV_TEMPLATE, "utf8"));

    assert.equal(mode(unitPath(root)), 0o644);
    const unit = readFileSync(unitPath(root), "utf8");
    assert.ok(!unit.includes("@"), "no placeholder left: " + unit.match(/@\w+@/)?.[0]);
    const d = unitDirectives(unit);
    assert.equal(d.get("ExecStart"), "/opt/cfw/bin/contentflow-worker supervisor");
    assert.equal(d.get("User"), "cfw");
    assert.equal(d.get("Group"), "cfw");
    assert.equal(d.get("EnvironmentFile"), "/etc/contentflow-worker/env");
    // No temp files left behind by the atomic renames.
    const leftovers = spawnSync("find", [root, "-name", "*.new.*"], { encoding: "utf8" }).stdout.trim();
    assert.equal(leftovers, "");
  });

  test("runs again idempotently: keeps an edited env file, reports up-to-date files, upgrades a new binary", () => {
    const root = freshDir("root");
    const bin = fakeBinary("v1");
    assert.equal(install(["--root", root, "--binary", bin]).code, 0);
    writeFileSync(envPath(root), "STORAGE_ACCOUNT_WORKER_QUEUE_URL=https://edited.queue.core.windows.net\n", {
      mode: 0o600,
    });
    const unitBefore = readFileSync(unitPath(root), "utf8");

    const again = install(["--root", root, "--binary", bin]);
    assert.equal(again.code, 0, again.out);
    assert.match(again.out, /kept the existing \/etc\/contentflow-worker\/env/);
    assert.match(again.out, /binary \/usr\/local\/bin\/contentflow-worker is up to date/);
    assert.match(again.out, /unit \/etc\/systemd\/system\/contentflow-worker.service is up to date/);
    assert.equal(
      readFileSync(envPath(root), "utf8"),
      "STORAGE_ACCOUNT_WORKER_QUEUE_URL=https://edited.queue.core.windows.net\n",
    );
    assert.equal(readFileSync(unitPath(root), "utf8"), unitBefore);

    const v2 = fakeBinary("v2");
    const upgrade = install(["--root", root, "--binary", v2, "--env-file", ENV_TEMPLATE]);
    assert.equal(upgrade.code, 0, upgrade.out);
    assert.match(upgrade.out, /installed .* as \/usr\/local\/bin\/contentflow-worker/);
    assert.match(readFileSync(join(root, "usr/local/bin/contentflow-worker"), "utf8"), /v2/);
    assert.match(readFileSync(envPath(root), "utf8"), /edited/, "--env-file does not replace an existing env file");

    chmodSync(envPath(root), 0o644);
    assert.match(install(["--root", root, "--binary", v2]).out, /warning: .*readable by others/);
  });

  test("--env-file seeds a new env file; DESTDIR works like --root", () => {
    const root = freshDir("root");
    const seed = join(freshDir("seed"), "env");
    writeFileSync(seed, "COSMOS_DB_ENDPOINT=https://acct.documents.azure.com:443/\n", { mode: 0o644 });
    const r = install(["--binary", fakeBinary(), "--env-file", seed], { DESTDIR: root });
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /wrote \/etc\/contentflow-worker\/env from .*seed/);
    assert.equal(readFileSync(envPath(root), "utf8"), readFileSync(seed, "utf8"));
    assert.equal(mode(envPath(root)), 0o600, "mode 0600 even when the seed file is world-readable");
  });

  test("--uninstall removes unit and binary but keeps config; --purge removes config too", () => {
    const root = freshDir("root");
    assert.equal(install(["--root", root, "--binary", fakeBinary()]).code, 0);
    const un = install(["--root", root, "--uninstall"]);
    assert.equal(un.code, 0, un.out);
    assert.ok(!existsSync(unitPath(root)));
    assert.ok(!existsSync(join(root, "usr/local/bin/contentflow-worker")));
    assert.ok(existsSync(envPath(root)));
    assert.match(un.out, /kept \/etc\/contentflow-worker and user contentflow-worker/);

    const again = install(["--root", root, "--uninstall"]);
    assert.equal(again.code, 0, "uninstall is idempotent");

    const purge = install(["--root", root, "--uninstall", "--purge"]);
    assert.equal(purge.code, 0, purge.out);
    assert.ok(!existsSync(join(root, "etc/contentflow-worker")));
  });

  test("release layout (binary, scripts/install.sh, deploy/): finds the binary without --binary", () => {
    const tree = freshDir("release");
    mkdirSync(join(tree, "scripts"));
    mkdirSync(join(tree, "deploy"));
    copyFileSync(SCRIPT, join(tree, "scripts/install.sh"));
    copyFileSync(UNIT_TEMPLATE, join(tree, "deploy/contentflow-worker.service"));
    copyFileSync(ENV_TEMPLATE, join(tree, "deploy/contentflow-worker.env.template"));
    copyFileSync(fakeBinary("release"), join(tree, "contentflow-worker"));
    chmodSync(join(tree, "contentflow-worker"), 0o755);
    const stage = join(tree, "stage");
    const r = install(["--root", stage], {}, join(tree, "scripts/install.sh"));
    assert.equal(r.code, 0, r.out);
    assert.match(readFileSync(join(stage, "usr/local/bin/contentflow-worker"), "utf8"), /release/);
    assert.ok(existsSync(unitPath(stage)));
  });

  const hasSetpriv = process.getuid?.() === 0 && spawnSync("sh", ["-c", "command -v setpriv"]).status === 0;
  test("needs root unless --root is given", {
    skip: hasSetpriv ? false : "needs to run as root with setpriv available to drop to an unprivileged user",
  }, () => {
    // A copy of the script and templates readable by 'nobody', in the release layout (scripts/ + deploy/).
    const tree = freshDir("tree");
    chmodSync(tmp, 0o755);
    chmodSync(tree, 0o777);
    mkdirSync(join(tree, "scripts"));
    mkdirSync(join(tree, "deploy"));
    copyFileSync(SCRIPT, join(tree, "scripts/install.sh"));
    copyFileSync(UNIT_TEMPLATE, join(tree, "deploy/contentflow-worker.service"));
    copyFileSync(ENV_TEMPLATE, join(tree, "deploy/contentflow-worker.env.template"));
    const bin = join(tree, "contentflow-worker-bin");
    writeFileSync(bin, "#!/bin/sh\nexit 0\n", { mode: 0o755 });
    for (const dir of [tree, join(tree, "scripts"), join(tree, "deploy")]) chmodSync(dir, 0o777);
    const asNobody = (args: string[]) => {
      const r = spawnSync("setpriv", [
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "bash",
        join(tree, "scripts/install.sh"),
        ...args,
      ], {
        encoding: "utf8",
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
      });
      return { code: r.status, out: r.stdout + r.stderr };
    };
    const denied = asNobody(["--binary", bin]);
    assert.equal(denied.code, 1);
    assert.match(denied.out, /must run as root/);
    const staged = asNobody(["--binary", bin, "--root", join(tree, "stage")]);
    assert.equal(staged.code, 0, staged.out);
    assert.ok(existsSync(join(tree, "stage/etc/systemd/system/contentflow-worker.service")));
  });
});

/** Root can run the real install (useradd, /etc, /usr/local, /var) in a private mount namespace over overlays. */
function overlayNamespaceReason(): string | false {
  if (process.getuid?.() !== 0) return "needs root to create a private mount namespace";
  const dir = freshDir("probe");
  mkdirSync(join(dir, "u"));
  mkdirSync(join(dir, "w"));
  const r = spawnSync("unshare", [
    "-m",
    "sh",
    "-c",
    `mount -t overlay overlay -o lowerdir=/etc,upperdir=${dir}/u,workdir=${dir}/w /etc`,
  ], {
    encoding: "utf8",
  });
  return r.status === 0
    ? false
    : `cannot mount an overlay in a private namespace here: ${(r.stderr || r.error?.message || "").trim()}`;
}

describe("install.sh: as root on the real paths, isolated by overlays", () => {
  const skip = overlayNamespaceReason();
  test("creates the system user, installs, re-runs, uninstalls and purges", { skip }, () => {
    const work = freshDir("overlay");
    const mounts = ["/etc", "/usr/local", "/var"].map((lower, i) => {
      mkdirSync(join(work, `u${i}`));
      mkdirSync(join(work, `w${i}`));
      return `mount -t overlay overlay -o lowerdir=${lower},upperdir=${work}/u${i},workdir=${work}/w${i} ${lower}`;
    });
    const bin = fakeBinary();
    const script = [
      "set -e",
      ...mounts,
      `bash ${SCRIPT} --binary ${bin}`,
      "echo USER=$(getent passwd contentflow-worker)",
      "echo ENV=$(stat -c '%a %U:%G' /etc/contentflow-worker/env)",
      "echo BIN=$(stat -c '%a %U' /usr/local/bin/contentflow-worker)",
      `bash ${SCRIPT} --binary ${bin}`,
      `bash ${SCRIPT} --uninstall --purge`,
      "getent passwd contentflow-worker || echo USER-GONE",
      "test -e /etc/contentflow-worker || echo CONFIG-GONE",
    ].join("\n");
    const r = spawnSync("unshare", ["-m", "bash", "-c", script], {
      encoding: "utf8",
      env: { PATH: process.env.PATH ?? "" },
    });
    const out = r.stdout + r.stderr;
    assert.equal(r.status, 0, out);
    assert.match(out, /created system user contentflow-worker/);
    assert.match(
      out,
      /USER=contentflow-worker:x:\d+:\d+:ContentFlow worker:\/var\/lib\/contentflow-worker:\/(usr\/)?s?bin\/(nologin|false)/,
    );
    assert.match(out, /ENV=600 root:root/);
    assert.match(out, /BIN=755 root/);
    assert.match(out, /user contentflow-worker exists/);
    assert.match(out, /removed user contentflow-worker/);
    assert.match(out, /USER-GONE/);
    assert.match(out, /CONFIG-GONE/);
    const hostUser = spawnSync("getent", ["passwd", "contentflow-worker"]).status;
    assert.notEqual(hostUser, 0, "the host's /etc/passwd was not touched");
  });
});

describe("systemd unit", () => {
  const template = readFileSync(UNIT_TEMPLATE, "utf8");
  const d = unitDirectives(template);

  test("service type, restart policy, timeouts and kill mode", () => {
    assert.equal(d.get("Type"), "notify");
    assert.equal(d.get("NotifyAccess"), "main");
    assert.equal(d.get("Restart"), "always");
    assert.equal(d.get("RestartSec"), "2");
    assert.equal(d.get("RestartPreventExitStatus"), "78");
    assert.equal(d.get("KillMode"), "mixed");
    assert.equal(d.get("WatchdogSec"), "30");
    assert.ok(Number(d.get("StartLimitBurst")) > 1);
    assert.ok(Number(d.get("StartLimitIntervalSec")) >= 60);
    const drainDefault = Number(settingMeta.SHUTDOWN_DRAIN_TIMEOUT_SECONDS.default);
    assert.ok(
      Number(d.get("TimeoutStopSec")) >= drainDefault + 10,
      "TimeoutStopSec leaves room above the drain timeout",
    );
  });

  test("hardening, and no MemoryDenyWriteExecute (JIT runtime)", () => {
    for (
      const key of [
        "NoNewPrivileges",
        "ProtectHome",
        "PrivateTmp",
        "PrivateDevices",
        "ProtectKernelTunables",
        "ProtectKernelModules",
        "ProtectKernelLogs",
        "ProtectControlGroups",
        "RestrictSUIDSGID",
        "LockPersonality",
        "RestrictRealtime",
        "RestrictNamespaces",
      ]
    ) {
      assert.equal(d.get(key), "yes", key);
    }
    assert.equal(d.get("ProtectSystem"), "strict");
    assert.equal(d.get("SystemCallArchitectures"), "native");
    assert.equal(d.get("CapabilityBoundingSet"), "");
    assert.equal(d.get("StateDirectory"), "contentflow-worker");
    assert.equal(d.get("LogsDirectory"), "contentflow-worker");
    assert.match(d.get("RestrictAddressFamilies") ?? "", /AF_UNIX/, "sd_notify needs AF_UNIX");
    assert.ok(Number(d.get("LimitNOFILE")) >= 4096);
    assert.equal(d.get("MemoryDenyWriteExecute"), undefined);
  });

  const hasAnalyze = spawnSync("sh", ["-c", "command -v systemd-analyze"]).status === 0;
  test("systemd-analyze verify accepts the installed unit", {
    skip: hasAnalyze ? false : "systemd-analyze is not installed (apt-get install systemd)",
  }, () => {
    const root = freshDir("root");
    assert.equal(install(["--root", root, "--binary", fakeBinary(), "--prefix", "/opt/cfw"]).code, 0);
    // verify checks that ExecStart= exists on this machine: point it at the staged copy.
    const dir = freshDir("verify");
    const unitFile = join(dir, "contentflow-worker.service");
    writeFileSync(
      unitFile,
      readFileSync(unitPath(root), "utf8").replace(/^ExecStart=\/opt\/cfw/m, `ExecStart=${join(root, "opt/cfw")}`),
    );
    const r = spawnSync("systemd-analyze", ["verify", "--man=no", unitFile], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    // verify only warns (exit 0) about unknown keys or bad values, so its output must be clean too.
    assert.doesNotMatch(r.stderr, /unknown|failed|ignoring|invalid/i, r.stderr);
  });
});

describe("env template", () => {
  test("names only settings the worker knows (or Azure SDK variables), and no secret values", () => {
    const known = new Set<string>([...SETTING_NAMES, "AZURE_CLIENT_ID"]);
    const text = readFileSync(ENV_TEMPLATE, "utf8");
    const names = [...text.matchAll(/^#?([A-Z][A-Z0-9_]+)=(.*)$/gm)];
    assert.ok(names.length > 20);
    for (const [, name, value] of names) {
      assert.ok(known.has(name), `unknown setting ${name} in the env template`);
      if (settingMeta[name as keyof typeof settingMeta]?.secret) assert.equal(value, "", `${name} has no value`);
    }
    const active = names.filter((m) => !m[0].startsWith("#")).map((m) => m[1]);
    assert.deepEqual(active.sort(), ["API_HOST", "COSMOS_DB_ENDPOINT", "STORAGE_ACCOUNT_WORKER_QUEUE_URL"]);
  });
});
