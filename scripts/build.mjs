#!/usr/bin/env node
// Builds the single binary with `bun build --compile`, with the version, git commit, build date and target baked in
// (`contentflow-worker version` prints them). The one build script: `npm run build`, the test runner, the e2e tests
// and the release workflow (.github/workflows/release.yml) all call it.
//
//   node scripts/build.mjs                                  dist/contentflow-worker for this machine
//   node scripts/build.mjs --target linux-arm64 --out F      another target (bun downloads that runtime once)
//   node scripts/build.mjs --release --version 1.2.3 --target linux-x64 --target linux-arm64
//        → dist/release/contentflow-worker-1.2.3-linux-x64, …-linux-arm64, the installer assets (install.sh with
//          the release URL from package.json `repository` stamped in, the systemd unit, the env template) and
//          dist/release/SHA256SUMS over all of them
//
// Options: --target T (repeatable; linux-x64, linux-arm64, linux-x64-musl, linux-arm64-musl; default: this
// machine), --version V (default: package.json; a leading "v" is dropped), --commit SHA (default: GITHUB_SHA or
// `git rev-parse HEAD`), --out FILE (one target only), --release (asset names and SHA256SUMS in --dir),
// --dir DIR (default dist/release).
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, copyFileSync, createReadStream, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { arch as hostArch } from "node:os";
import { basename, join, resolve } from "node:path";

const ROOT = resolve(import.meta.dirname, "..");
export const TARGETS = ["linux-x64", "linux-arm64", "linux-x64-musl", "linux-arm64-musl"];

function usage(message) {
  process.stderr.write(`build: ${message}\nUsage: node scripts/build.mjs [--target T]... [--version V] [--commit SHA]
                         [--out FILE | --release [--dir DIR]]
Targets: ${TARGETS.join(", ")}\n`);
  process.exit(2);
}

function parse(argv) {
  const opts = { targets: [], release: false, dir: join(ROOT, "dist", "release") };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [name, inline] = arg.includes("=") ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)] : [
      arg,
      undefined,
    ];
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined || v === "") usage(`${name} needs a value`);
      return v;
    };
    if (name === "--target") opts.targets.push(value());
    else if (name === "--version") opts.version = value();
    else if (name === "--commit") opts.commit = value();
    else if (name === "--out") opts.out = resolve(value());
    else if (name === "--dir") opts.dir = resolve(value());
    else if (name === "--release") opts.release = true;
    else if (name === "-h" || name === "--help") usage("help");
    else usage(`unknown option ${arg}`);
  }
  for (const t of opts.targets) if (!TARGETS.includes(t)) usage(`unknown target ${t}`);
  if (opts.out && (opts.release || opts.targets.length > 1)) usage("--out takes one target and no --release");
  return opts;
}

/**
 * The releases address of the project named by package.json `repository` (a GitHub URL, `github:owner/name` or
 * `owner/name`, as a string or `{ url }`): `https://github.com/<owner>/<name>/releases`.
 */
export function releaseUrlFromPackage(pkg) {
  const raw = typeof pkg.repository === "string" ? pkg.repository : pkg.repository?.url;
  if (typeof raw !== "string" || raw === "") {
    throw new Error("package.json has no `repository` to take the release URL from");
  }
  const url = raw.replace(/^git\+/, "").replace(/\.git$/, "").replace(/\/+$/, "");
  const m = /^(?:https:\/\/github\.com\/|github:)?([A-Za-z0-9][A-Za-z0-9-]*)\/([A-Za-z0-9._-]+)$/.exec(url);
  if (!m) {
    throw new Error(`package.json repository '${raw}' is not a GitHub repository (https://github.com/owner/name)`);
  }
  return `https://github.com/${m[1]}/${m[2]}/releases`;
}

/** install.sh with its DEFAULT_RELEASE_URL line set to `url` (the line must be there exactly once). */
export function stampInstaller(text, url) {
  if (!/^https:\/\/[A-Za-z0-9.-]+(\/[A-Za-z0-9._~\/-]*)?$/.test(url)) {
    throw new Error(`release URL '${url}' is not a plain https URL`);
  }
  const line = /^DEFAULT_RELEASE_URL="[^"\n]*"$/gm;
  const found = text.match(line)?.length ?? 0;
  if (found !== 1) throw new Error(`install.sh has ${found} DEFAULT_RELEASE_URL="…" lines, expected exactly 1`);
  return text.replace(line, `DEFAULT_RELEASE_URL="${url}"`);
}

export const INSTALLER_ASSETS = ["install.sh", "contentflow-worker.service", "contentflow-worker.env.template"];

/** Writes the installer assets of a release into `dir`: install.sh stamped with `url`, the unit and env template. */
export function writeInstallerAssets(dir, url) {
  mkdirSync(dir, { recursive: true });
  const script = join(dir, "install.sh");
  writeFileSync(script, stampInstaller(readFileSync(join(ROOT, "scripts", "install.sh"), "utf8"), url));
  chmodSync(script, 0o755);
  for (const name of INSTALLER_ASSETS.slice(1)) copyFileSync(join(ROOT, "deploy", name), join(dir, name));
  return INSTALLER_ASSETS.map((name) => join(dir, name));
}

function hostTarget() {
  const a = hostArch() === "arm64" ? "arm64" : "x64";
  // musl hosts (Alpine): glibc's loader is missing.
  const musl = !existsSync("/lib64/ld-linux-x86-64.so.2") && !existsSync("/lib/ld-linux-aarch64.so.1") &&
    existsSync(`/lib/ld-musl-${a === "x64" ? "x86_64" : "aarch64"}.so.1`);
  return `linux-${a}${musl ? "-musl" : ""}`;
}

function gitCommit() {
  if (process.env.GITHUB_SHA) return process.env.GITHUB_SHA;
  const r = spawnSync("git", ["rev-parse", "HEAD"], { cwd: ROOT, encoding: "utf8" });
  if (r.status !== 0) return "unknown";
  const dirty = spawnSync("git", ["status", "--porcelain", "--untracked-files=no"], { cwd: ROOT, encoding: "utf8" });
  return r.stdout.trim() + (dirty.status === 0 && dirty.stdout.trim() ? "-dirty" : "");
}

function sha256(file) {
  return new Promise((res, rej) => {
    const hash = createHash("sha256");
    createReadStream(file).on("data", (d) => hash.update(d)).on("end", () => res(hash.digest("hex"))).on(
      "error",
      rej,
    );
  });
}

export async function build(argv) {
  const opts = parse(argv);
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
  const version = (opts.version ?? pkg.version).replace(/^v/, "");
  if (!/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/.test(version)) {
    usage(`version '${version}' is not of the form X.Y.Z[-pre]`);
  }
  const commit = opts.commit ?? gitCommit();
  const epoch = process.env.SOURCE_DATE_EPOCH;
  const date = epoch ? new Date(Number(epoch) * 1000).toISOString() : new Date().toISOString();
  const host = hostTarget();
  const targets = opts.targets.length ? opts.targets : [host];
  const bun = join(ROOT, "node_modules", ".bin", "bun");
  if (opts.release) mkdirSync(opts.dir, { recursive: true });
  const built = [];
  for (const target of targets) {
    const out = opts.release
      ? join(opts.dir, `contentflow-worker-${version}-${target}`)
      : opts.out ?? join(ROOT, "dist", "contentflow-worker");
    const info = { version, commit, date, target };
    const args = [
      "build",
      "--compile",
      "--minify",
      "--bytecode",
      "--format=esm",
      `--define=CONTENTFLOW_WORKER_BUILD=${JSON.stringify(info)}`,
      ...(target === host ? [] : [`--target=bun-${target}`]),
      "src/main.ts",
      // A second entry point: the PDF thread (src/executors/documents/pdf-thread.ts starts it by this path).
      "src/executors/documents/pdf-worker.ts",
      "--outfile",
      out,
    ];
    const t0 = Date.now();
    const r = spawnSync(bun, args, { cwd: ROOT, encoding: "utf8" });
    if (r.status !== 0) {
      process.stderr.write(`build: bun build failed for ${target}:\n${r.stdout}${r.stderr}\n`);
      process.exit(1);
    }
    process.stdout.write(`build: ${out} (${target}, ${version}, ${commit.slice(0, 12)}, ${Date.now() - t0} ms)\n`);
    built.push(out);
  }
  if (opts.release) {
    const releaseUrl = releaseUrlFromPackage(pkg);
    const assets = [...built, ...writeInstallerAssets(opts.dir, releaseUrl)];
    process.stdout.write(`build: installer assets in ${opts.dir} (release URL ${releaseUrl})\n`);
    const lines = [];
    for (const file of assets) lines.push(`${await sha256(file)}  ${basename(file)}`);
    const sums = join(opts.dir, "SHA256SUMS");
    // Merge with sums of assets built by an earlier call into the same folder (one line per file name).
    const previous = existsSync(sums) ? readFileSync(sums, "utf8").split("\n").filter(Boolean) : [];
    const names = new Set(lines.map((l) => l.split("  ")[1]));
    const merged = [...previous.filter((l) => !names.has(l.split("  ")[1])), ...lines].sort((a, b) =>
      a.split("  ")[1].localeCompare(b.split("  ")[1])
    );
    writeFileSync(sums, merged.join("\n") + "\n");
    process.stdout.write(`build: ${sums} (${merged.length} assets)\n`);
  }
  return built;
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  await build(process.argv.slice(2));
}
