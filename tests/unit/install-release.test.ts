// How a release is made: install.sh downloads from the project's own releases (package.json `repository`), the build
// stamps that URL into the release's install.sh, and the workflow publishes tags with a pre-release part as
// pre-releases (so `install.sh --version latest` never gets one). The workflow's steps run here with a stand-in gh.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import process from "node:process";
import { after } from "node:test";
import { parse } from "yaml";
import { INSTALLER_ASSETS, releaseUrlFromPackage, stampInstaller, writeInstallerAssets } from "../../scripts/build.mjs";

const ROOT = resolve(import.meta.dirname ?? new URL(".", import.meta.url).pathname, "..", "..");
const SCRIPT = readFileSync(join(ROOT, "scripts", "install.sh"), "utf8");
const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
const tmp = mkdtempSync(join(tmpdir(), "cfw-release-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

const defaultUrlOf = (script: string) => /^DEFAULT_RELEASE_URL="([^"]*)"$/m.exec(script)?.[1];

describe("release URL", () => {
  test("install.sh's default release URL is the one package.json `repository` names", () => {
    assert.equal(pkg.repository?.url, "https://github.com/contentflow/contentflow-worker");
    assert.equal(defaultUrlOf(SCRIPT), releaseUrlFromPackage(pkg));
    assert.match(readFileSync(join(ROOT, "README.md"), "utf8"), new RegExp(`${releaseUrlFromPackage(pkg)}/latest`));
  });

  test("package.json `repository` forms", () => {
    const want = "https://github.com/o/n/releases";
    for (
      const repository of [
        "https://github.com/o/n",
        "https://github.com/o/n.git",
        "git+https://github.com/o/n.git",
        "github:o/n",
        "o/n",
        { type: "git", url: "https://github.com/o/n/" },
      ]
    ) {
      assert.equal(releaseUrlFromPackage({ repository }), want, JSON.stringify(repository));
    }
    for (const repository of [undefined, "", "https://gitlab.com/o/n", { url: "ssh://git@github.com/o/n" }]) {
      assert.throws(() => releaseUrlFromPackage({ repository }), /repository/, JSON.stringify(repository));
    }
  });

  test("stamping replaces the one DEFAULT_RELEASE_URL line and refuses anything but a plain https URL", () => {
    const stamped = stampInstaller(SCRIPT, "https://github.com/fork/worker/releases");
    assert.equal(defaultUrlOf(stamped), "https://github.com/fork/worker/releases");
    assert.equal(stamped.split("\n").length, SCRIPT.split("\n").length, "only that line changes");
    for (const bad of ["http://github.com/o/n/releases", 'https://x/"$(id)"', "https://x/`id`"]) {
      assert.throws(() => stampInstaller(SCRIPT, bad), /not a plain https URL/, bad);
    }
    assert.throws(() => stampInstaller("echo hi\n", "https://x/r"), /0 DEFAULT_RELEASE_URL/);
  });

  test("the release's installer assets: install.sh stamped (its --help shows the URL), unit and env template", () => {
    const dir = join(tmp, "assets");
    const paths = writeInstallerAssets(dir, "https://github.com/fork/worker/releases");
    assert.deepEqual(paths, INSTALLER_ASSETS.map((name) => join(dir, name)));
    const help = spawnSync("bash", [join(dir, "install.sh"), "--help"], { encoding: "utf8" });
    assert.equal(help.status, 0, help.stderr);
    assert.match(
      help.stdout,
      /curl -fsSL https:\/\/github\.com\/fork\/worker\/releases\/latest\/download\/install\.sh/,
    );
    for (const name of INSTALLER_ASSETS.slice(1)) {
      assert.equal(readFileSync(join(dir, name), "utf8"), readFileSync(join(ROOT, "deploy", name), "utf8"), name);
    }
  });
});

// deno-lint-ignore no-explicit-any
const workflow = parse(readFileSync(join(ROOT, ".github", "workflows", "release.yml"), "utf8")) as any;
// deno-lint-ignore no-explicit-any
const stepRun = (job: string, name: RegExp): string => workflow.jobs[job].steps.find((s: any) => name.test(s.name)).run;

/** Runs a workflow step's script as the runner does (`bash -e`), with `env` and a stand-in gh on PATH. */
function runStep(script: string, env: Record<string, string>) {
  const dir = join(tmp, `step-${Math.random().toString(36).slice(2)}`);
  mkdirSync(join(dir, "bin"), { recursive: true });
  mkdirSync(join(dir, "assets"));
  writeFileSync(join(dir, "assets", "SHA256SUMS"), "");
  writeFileSync(join(dir, "bin", "gh"), `#!/bin/sh\nfor a in "$@"; do echo "$a"; done > "${dir}/gh-args"\n`, {
    mode: 0o755,
  });
  const r = spawnSync("bash", ["-e", "-c", script], {
    cwd: env.CWD ?? dir,
    encoding: "utf8",
    env: { PATH: `${join(dir, "bin")}:${process.env.PATH}`, ...env },
  });
  let ghArgs: string[] = [];
  try {
    ghArgs = readFileSync(join(dir, "gh-args"), "utf8").trim().split("\n");
  } catch { /* gh was not called */ }
  return { code: r.status, out: r.stdout + r.stderr, ghArgs };
}

describe("release workflow", () => {
  const publish = stepRun("publish", /^Publish the release$/);

  test("a tag with a pre-release part is published as a pre-release, never as latest", () => {
    for (const tag of ["v1.2.0-rc.1", "v2.0.0-beta", "v1.2.0+build.5"]) {
      const r = runStep(publish, { TAG: tag, GITHUB_REPOSITORY: "contentflow/contentflow-worker" });
      assert.equal(r.code, 0, r.out);
      assert.equal(r.ghArgs[0], "release");
      assert.equal(r.ghArgs[2], tag);
      assert.ok(r.ghArgs.includes("--prerelease"), `${tag}: ${r.ghArgs.join(" ")}`);
      assert.ok(r.ghArgs.includes("--latest=false"), `${tag}: ${r.ghArgs.join(" ")}`);
    }
  });

  test("a plain vX.Y.Z tag is the latest release", () => {
    const r = runStep(publish, { TAG: "v1.2.0", GITHUB_REPOSITORY: "contentflow/contentflow-worker" });
    assert.equal(r.code, 0, r.out);
    assert.ok(r.ghArgs.includes("--latest"), r.ghArgs.join(" "));
    assert.ok(!r.ghArgs.includes("--prerelease"), r.ghArgs.join(" "));
  });

  test("the build refuses to publish when package.json names another repository than the one releasing", () => {
    const check = stepRun("build", /^package\.json names this repository/);
    assert.equal(runStep(check, { REPOSITORY: "contentflow/contentflow-worker", CWD: ROOT }).code, 0);
    const fork = runStep(check, { REPOSITORY: "someone/fork", CWD: ROOT });
    assert.equal(fork.code, 1, fork.out);
    assert.match(fork.out, /package\.json repository gives .*contentflow\/contentflow-worker.*someone\/fork/);
  });

  test("the build step writes the installer assets through scripts/build.mjs (no separate copy)", () => {
    const build = stepRun("build", /^Build every target$/);
    assert.match(build, /node scripts\/build\.mjs --release/);
    const all = JSON.stringify(workflow);
    assert.doesNotMatch(all, /cp scripts\/install\.sh/);
  });
});
