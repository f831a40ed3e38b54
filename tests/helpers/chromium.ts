// Debian's chromium in headless mode, for tests that load a page as a browser does. `.ci/run` installs it; a
// developer machine without it skips those tests (with the reason), CI fails them instead of skipping silently.
// Where it is looked for and the flags it runs with are the worker's own (src/executors/browser.ts).
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { browserExecutable, CHROMIUM_SERVER_ARGS, DEFAULT_BROWSER_PATHS } from "../../src/executors/browser.ts";

/** CHROMIUM_PATH, else the first browser the worker would find (BROWSER_EXECUTABLE_PATH=auto), else Debian's path. */
export const CHROMIUM = process.env.CHROMIUM_PATH || (browserExecutable("auto") ?? DEFAULT_BROWSER_PATHS[0]);

/**
 * `false` when chromium is there; otherwise the skip reason (outside CI). In CI (`CI` set) a missing chromium is
 * not a reason to skip: the test runs and `dumpDom` fails with a clear message.
 */
export function chromiumSkipReason(): string | false {
  if (existsSync(CHROMIUM)) return false;
  if (process.env.CI) return false;
  return `${CHROMIUM} is not installed (apt-get install --no-install-recommends chromium; .ci/run does this in CI)`;
}

/** Loads `url` in a fresh headless chromium profile and returns the DOM after the load event. */
export async function dumpDom(url: string, opts: { screenshot?: string; timeoutMs?: number } = {}): Promise<string> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} is missing: .ci/run installs Debian's chromium (apt-get install -y --no-install-recommends ` +
        `chromium) before the tests; did that step fail? Its output is in the CI log above the tests.`,
    );
  }
  const profile = mkdtempSync(join(tmpdir(), "cfw-chromium-"));
  const args = [
    "--headless",
    ...CHROMIUM_SERVER_ARGS,
    `--user-data-dir=${profile}`,
    ...(opts.screenshot ? [`--screenshot=${opts.screenshot}`, "--window-size=1200,1600"] : ["--dump-dom"]),
    url,
  ];
  try {
    return await new Promise<string>((resolve, reject) => {
      const child = spawn(CHROMIUM, args, { stdio: ["ignore", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d) => (stdout += d));
      child.stderr.on("data", (d) => (stderr += d));
      const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 60_000);
      child.on("error", (e) => {
        clearTimeout(timer);
        reject(new Error(`could not start ${CHROMIUM}: ${e.message}`));
      });
      child.on("close", (code, signal) => {
        clearTimeout(timer);
        if (code === 0) resolve(stdout);
        else reject(new Error(`chromium exited with ${signal ?? code}:\n${stderr.slice(-2000)}`));
      });
    });
  } finally {
    rmSync(profile, { recursive: true, force: true });
  }
}
