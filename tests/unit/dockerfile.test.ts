// deploy/Dockerfile read as instructions (no docker engine here): a pinned base, no ADD from URLs, a non-root USER
// for what runs, the API on 0.0.0.0, a HEALTHCHECK on /health, and the binary copied from where the release
// workflow's image job stages it.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "../helpers/binary.ts";

interface Instruction {
  keyword: string;
  args: string;
  line: number;
}

/** Dockerfile instructions: comments and blank lines dropped, backslash continuations joined. */
function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending = "";
  let start = 0;
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (!pending && (line === "" || line.startsWith("#"))) return;
    if (pending && line.startsWith("#")) return;
    if (!pending) start = i + 1;
    if (line.endsWith("\\")) {
      pending += line.slice(0, -1).trimEnd() + " ";
      return;
    }
    const full = (pending + line).trim();
    pending = "";
    const m = /^(\S+)\s*(.*)$/.exec(full)!;
    out.push({ keyword: m[1].toUpperCase(), args: m[2], line: start });
  });
  return out;
}

const dockerfile = parseDockerfile(readFileSync(join(ROOT, "deploy", "Dockerfile"), "utf8"));
const all = (k: string) => dockerfile.filter((i) => i.keyword === k);

describe("deploy/Dockerfile", () => {
  test("every base image is pinned by a tag other than latest, or by digest", () => {
    const froms = all("FROM");
    assert.ok(froms.length > 0, "no FROM");
    for (const f of froms) {
      const image = f.args.split(/\s+/).find((a) => !a.startsWith("--"))!;
      const pinned = /@sha256:[0-9a-f]{64}$/.test(image) ||
        (/:[\w][\w.-]*$/.test(image.split("/").pop()!) && !image.endsWith(":latest"));
      assert.ok(pinned, `line ${f.line}: base image ${image} is not pinned by tag or digest`);
    }
  });

  test("nothing is ADDed from a URL (downloads at build time are unverified)", () => {
    for (const a of all("ADD")) {
      assert.ok(!/\b(https?|ftp):\/\//i.test(a.args), `line ${a.line}: ADD from a URL: ${a.args}`);
      assert.ok(!/--checksum|git@/.test(a.args), `line ${a.line}: ADD of a remote source`);
    }
  });

  test("the last USER is a non-root user, set before the entrypoint", () => {
    const users = all("USER");
    assert.ok(users.length > 0, "no USER: the image would run as root");
    const last = users[users.length - 1];
    const [user, group] = last.args.split(":");
    assert.ok(!["root", "0"].includes(user), `line ${last.line}: USER ${last.args} is root`);
    if (group !== undefined) assert.ok(!["root", "0"].includes(group), `line ${last.line}: group root`);
    const entry = all("ENTRYPOINT").concat(all("CMD"))[0];
    assert.ok(entry && entry.line > last.line, "ENTRYPOINT comes after USER");
  });

  test("the API listens on every address at the Container App's port, and HEALTHCHECK reads /health", () => {
    const env = all("ENV").map((e) => e.args).join(" ");
    assert.match(env, /(^|\s)API_HOST=0\.0\.0\.0(\s|$)/);
    assert.match(env, /(^|\s)API_PORT=8099(\s|$)/, "the reference bicep's workerContainerAppTargetPort");
    const hc = all("HEALTHCHECK");
    assert.equal(hc.length, 1);
    assert.match(hc[0].args, /\bCMD\b.*http:\/\/127\.0\.0\.1:\$\{API_PORT\}\/health\b/);
    assert.match(hc[0].args, /--timeout=\d+s/);
  });

  test("the binary is copied from where the release workflow's image job stages it", () => {
    const copy = all("COPY").find((c) => c.args.includes("contentflow-worker"));
    assert.ok(copy, "no COPY of the binary");
    assert.match(copy.args, /dist\/image\/\$\{TARGETPLATFORM\}\/contentflow-worker\s+\/usr\/local\/bin\//);
    const workflow = readFileSync(join(ROOT, ".github", "workflows", "release.yml"), "utf8");
    assert.match(workflow, /dist\/image\/linux\/amd64\/contentflow-worker/);
    assert.match(workflow, /dist\/image\/linux\/arm64\/contentflow-worker/);
    assert.match(workflow, /file: deploy\/Dockerfile/);
  });

  test("the parser joins continuations and skips comments (what the checks above rely on)", () => {
    const parsed = parseDockerfile("# c\nFROM a:1\nRUN x \\\n  # inner\n  && y\nUSER 1\n");
    assert.deepEqual(parsed.map((i) => [i.keyword, i.args, i.line]), [
      ["FROM", "a:1", 2],
      ["RUN", "x && y", 3],
      ["USER", "1", 6],
    ]);
  });
});
