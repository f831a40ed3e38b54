// deploy/Dockerfile linted without a Docker engine: its instructions parsed (continuation lines joined, comments
// dropped) and checked for what the container needs — a pinned base, no remote ADD, a numeric non-root USER in
// force when the binary starts, the API on every interface at the reference Container App's port, and a
// HEALTHCHECK on /health. tests/e2e/container-like-binary.test.ts runs the HEALTHCHECK command itself.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import process from "node:process";
import { parse } from "yaml";
import { settingMeta } from "../../src/config/schema.ts";
import { DOCKERFILE, healthcheckArgv, parseDockerfile } from "../helpers/dockerfile.ts";

const instructions = () => parseDockerfile(readFileSync(DOCKERFILE, "utf8"));

test("parseDockerfile joins continuations and drops comments", () => {
  assert.deepEqual(parseDockerfile("# c\nFROM a:1\nENV A=1 \\\n  # inside\n  B=2\nuser 1:1\n"), [
    { op: "FROM", args: "a:1" },
    { op: "ENV", args: "A=1  B=2" },
    { op: "USER", args: "1:1" },
  ]);
  assert.throws(() => parseDockerfile("FROM a \\"), /continued line/);
});

test("every base image is pinned by digest or a version tag (not latest, not untagged)", () => {
  const froms = instructions().filter((i) => i.op === "FROM");
  assert.ok(froms.length > 0, "a FROM");
  for (const { args } of froms) {
    const image = args.split(/\s+/).find((w) => !w.startsWith("--"))!;
    const digest = /@sha256:[0-9a-f]{64}$/.test(image);
    const tag = /:([\w][\w.-]*)$/.exec(image.replace(/^[^/]*:\d+\//, ""))?.[1];
    assert.ok(digest || (tag && tag !== "latest" && /\d/.test(tag)), `FROM ${image} is pinned`);
  }
});

test("no ADD from a URL: nothing is downloaded while building", () => {
  for (const { op, args } of instructions()) {
    if (op === "ADD") assert.doesNotMatch(args, /\b(https?|git|ftp):\/\/|git@/i, `ADD ${args}`);
    if (op === "RUN") assert.doesNotMatch(args, /\b(curl|wget)\b/, `RUN ${args}`);
  }
});

test("the entrypoint runs as a numeric non-root user", () => {
  const list = instructions();
  const entry = list.findIndex((i) => i.op === "ENTRYPOINT" || i.op === "CMD");
  assert.ok(entry >= 0, "an ENTRYPOINT or CMD");
  const users = list.slice(0, entry).filter((i) => i.op === "USER");
  assert.ok(users.length > 0, "a USER before the entrypoint");
  const [uid, gid] = users.at(-1)!.args.split(":");
  assert.match(uid, /^\d+$/, "numeric uid (runAsNonRoot can check it)");
  assert.notEqual(Number(uid), 0, "not root");
  if (gid !== undefined) assert.notEqual(Number(gid), 0, "not the root group");
  assert.deepEqual(JSON.parse(list[entry].args), ["/usr/local/bin/contentflow-worker"]);
});

test("the API listens on every interface at the default API_PORT, which is exposed", () => {
  const list = instructions();
  const env = list.filter((i) => i.op === "ENV").map((i) => i.args).join(" ");
  assert.match(env, /\bAPI_HOST=0\.0\.0\.0\b/);
  const port = settingMeta.API_PORT.default;
  assert.match(env, new RegExp(`\\bAPI_PORT=${port}\\b`));
  assert.ok(list.some((i) => i.op === "EXPOSE" && i.args.split(/\s+/).includes(String(port))), `EXPOSE ${port}`);
});

test("the HEALTHCHECK asks /health on the API port", () => {
  const argv = healthcheckArgv(instructions());
  assert.equal(argv[0], "bash");
  assert.match(argv.at(-1)!, /GET \/health HTTP\/1\.0/);
  assert.match(argv.at(-1)!, /\$\{API_PORT:-8099\}/);
});

test("release.yml's image job stages the release binaries under the names the Dockerfile COPYs", () => {
  const root = resolve(import.meta.dirname ?? ".", "../..");
  // deno-lint-ignore no-explicit-any
  const workflow = parse(readFileSync(join(root, ".github", "workflows", "release.yml"), "utf8")) as any;
  const job = workflow.jobs.image;
  assert.ok(job, "an image job");
  assert.deepEqual(job.needs, "build");
  const stage = job.steps.find((s: { name?: string }) => s.name?.startsWith("Build context"));
  const build = job.steps.find((s: { uses?: string }) => s.uses?.startsWith("docker/build-push-action"));
  assert.equal(build.with.file, "deploy/Dockerfile");
  // The assets as scripts/build.mjs --release names them, then the step's script as written.
  const dir = mkdtempSync(join(tmpdir(), "cfw-image-context-"));
  mkdirSync(join(dir, "assets"));
  for (const target of ["linux-x64", "linux-arm64"]) {
    writeFileSync(join(dir, "assets", `contentflow-worker-1.2.3-${target}`), target);
  }
  const r = spawnSync("bash", ["-eo", "pipefail", "-c", stage.run], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? "", TAG: "v1.2.3" },
    encoding: "utf8",
  });
  assert.equal(r.status, 0, r.stderr);
  const copy = parseDockerfile(readFileSync(DOCKERFILE, "utf8")).find((i) => i.op === "COPY")!;
  const source = copy.args.split(/\s+/).filter((w) => !w.startsWith("--"))[0];
  for (const arch of build.with.platforms.split(",").map((p: string) => p.split("/")[1])) {
    const name = source.replace("${TARGETARCH}", arch);
    assert.ok(existsSync(join(dir, build.with.context, name)), `${name} in the build context for ${arch}`);
  }
});
