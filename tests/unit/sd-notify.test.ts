// sd_notify against a real AF_UNIX datagram socket. The receiver is a small python3 program (Node, Bun and Deno
// cannot bind unix datagram sockets); without python3 those tests are skipped with that reason.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createInterface } from "node:readline";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import process from "node:process";
import { sleep } from "../helpers/wait.ts";
import {
  childEnvWithoutSystemd,
  notifyExtendTimeout,
  notifyReady,
  notifySocketAddress,
  notifyStatus,
  notifyStopping,
  sdNotify,
  sendNotify,
  startWatchdog,
  watchdogTimeoutMs,
} from "../../src/runtime/sd-notify.ts";

const ROOT = resolve(import.meta.dirname ?? new URL(".", import.meta.url).pathname, "..", "..");
const hasPython = spawnSync("python3", ["-c", "import socket; socket.AF_UNIX"]).status === 0;
const NO_PYTHON = hasPython ? false : "python3 is not installed: no AF_UNIX datagram receiver for this test";
const hasSystemdNotify = spawnSync("sh", ["-c", "command -v systemd-notify"]).status === 0;
const tmp = mkdtempSync(join(tmpdir(), "cfw-sdnotify-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

const RECEIVER = `
import json, socket, sys
name = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\\0" + name[1:] if name.startswith("@") else name)
print(json.dumps("listening"), flush=True)
while True:
    data = s.recv(65536)
    print(json.dumps(data.decode("utf-8", "replace")), flush=True)
`;

/** A datagram socket bound at `address` (path or @abstract) that records every message it receives. */
class Receiver {
  readonly messages: string[] = [];
  private waiters: Array<() => void> = [];
  private constructor(readonly address: string, private readonly child: ChildProcess) {}

  static async start(address: string): Promise<Receiver> {
    const child = spawn("python3", ["-c", RECEIVER, address], { stdio: ["ignore", "pipe", "inherit"] });
    const receiver = new Receiver(address, child);
    const lines = createInterface({ input: child.stdout! });
    await new Promise<void>((res, rej) => {
      child.once("exit", (code) => rej(new Error(`receiver exited ${code}`)));
      lines.on("line", (line) => {
        const msg = JSON.parse(line) as string;
        if (msg === "listening") return res();
        receiver.messages.push(msg);
        for (const w of receiver.waiters.splice(0)) w();
      });
    });
    return receiver;
  }

  async waitFor(count: number, timeoutMs = 5_000): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.messages.length < count) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`expected ${count} messages, got ${JSON.stringify(this.messages)}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
    return this.messages.slice(0, count);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((r) => this.child.once("exit", r));
    this.child.kill("SIGKILL");
    await exited;
  }
}

describe("sd-notify: pure helpers", () => {
  test("childEnvWithoutSystemd strips what only the main process may use and keeps the rest", () => {
    const env = childEnvWithoutSystemd({
      NOTIFY_SOCKET: "/run/systemd/notify",
      WATCHDOG_USEC: "30000000",
      WATCHDOG_PID: "1",
      LISTEN_FDS: "1",
      LISTEN_PID: "1",
      LISTEN_FDNAMES: "x",
      PATH: "/usr/bin",
      COSMOS_DB_ENDPOINT: "https://x",
      UNSET: undefined,
    });
    assert.deepEqual(env, { PATH: "/usr/bin", COSMOS_DB_ENDPOINT: "https://x" });
  });

  test("sockaddr_un for a path (NUL-terminated) and an abstract name (leading NUL, no terminator)", () => {
    const path = notifySocketAddress("/run/x");
    assert.deepEqual([...path.slice(0, 2)], [1, 0]);
    assert.equal(new TextDecoder().decode(path.slice(2)), "/run/x\0");
    const abstract = notifySocketAddress("@sd");
    assert.deepEqual([...abstract], [1, 0, 0, "s".charCodeAt(0), "d".charCodeAt(0)]);
    assert.throws(() => notifySocketAddress("relative/sock"), /neither an absolute path/);
    assert.throws(() => notifySocketAddress("/" + "a".repeat(107)), /longer than 108/);
    assert.equal(notifySocketAddress("/" + "a".repeat(106)).length, 2 + 108);
  });

  test("watchdogTimeoutMs honours WATCHDOG_USEC and WATCHDOG_PID", () => {
    assert.equal(watchdogTimeoutMs({}, 10), undefined);
    assert.equal(watchdogTimeoutMs({ WATCHDOG_USEC: "30000000" }, 10), 30_000);
    assert.equal(watchdogTimeoutMs({ WATCHDOG_USEC: "30000000", WATCHDOG_PID: "10" }, 10), 30_000);
    assert.equal(watchdogTimeoutMs({ WATCHDOG_USEC: "30000000", WATCHDOG_PID: "11" }, 10), undefined);
    assert.equal(watchdogTimeoutMs({ WATCHDOG_USEC: "garbage" }, 10), undefined);
    assert.equal(watchdogTimeoutMs({ WATCHDOG_USEC: "0" }, 10), undefined);
  });

  test("without NOTIFY_SOCKET nothing is sent and the result is false", async () => {
    assert.equal(await sdNotify("READY=1", { env: {} }), false);
    assert.deepEqual(await sendNotify("READY=1", { env: {} }), { sent: false, error: "NOTIFY_SOCKET is not set" });
    assert.equal(startWatchdog({ isAlive: () => true, env: {} }), undefined);
    assert.equal(
      startWatchdog({ isAlive: () => true, env: { WATCHDOG_USEC: "1000000", WATCHDOG_PID: "1" }, pid: 2 }),
      undefined,
    );
  });
});

describe("sd-notify: datagrams to a real socket (FFI)", () => {
  test("READY=1 with STATUS reaches a socket given by path", { skip: NO_PYTHON }, async () => {
    const rx = await Receiver.start(join(tmp, "notify.sock"));
    try {
      const env = { NOTIFY_SOCKET: rx.address };
      const result = await sendNotify("READY=1\nSTATUS=2 processing, 1 source ready", { env });
      assert.deepEqual(result, { sent: true, transport: "ffi" });
      assert.equal(await notifyStatus("line one\nline two", { env }), true);
      assert.equal(await notifyStopping("draining 3 tasks", { env }), true);
      assert.equal(await notifyExtendTimeout(45_000, { env }), true);
      assert.deepEqual(await rx.waitFor(4), [
        "READY=1\nSTATUS=2 processing, 1 source ready",
        "STATUS=line one line two",
        "STOPPING=1\nSTATUS=draining 3 tasks",
        "EXTEND_TIMEOUT_USEC=45000000",
      ]);
    } finally {
      await rx.stop();
    }
  });

  test("READY=1 reaches an abstract socket (@name)", { skip: NO_PYTHON }, async () => {
    const rx = await Receiver.start(`@cfw-test-${process.pid}-${Date.now()}`);
    try {
      assert.equal(await notifyReady(undefined, { env: { NOTIFY_SOCKET: rx.address } }), true);
      assert.deepEqual(await rx.waitFor(1), ["READY=1"]);
    } finally {
      await rx.stop();
    }
  });

  test("a socket nobody listens on gives false and the errno name", async () => {
    const result = await sendNotify("READY=1", { env: { NOTIFY_SOCKET: join(tmp, "nobody.sock") } });
    assert.equal(result.sent, false);
    assert.equal(result.transport, "ffi");
    assert.match(result.error ?? "", /ENOENT/);
  });

  test(
    "watchdog pings WATCHDOG=1 at half the period, and stops while the liveness check fails",
    { skip: NO_PYTHON },
    async () => {
      const rx = await Receiver.start(join(tmp, "watchdog.sock"));
      let alive = true;
      const missed: string[] = [];
      const handle = startWatchdog({
        isAlive: () => alive,
        onMissed: (reason) => missed.push(reason),
        env: { NOTIFY_SOCKET: rx.address, WATCHDOG_USEC: "200000", WATCHDOG_PID: String(process.pid) },
      });
      try {
        assert.ok(handle);
        assert.equal(handle.intervalMs, 100);
        assert.deepEqual(await rx.waitFor(2), ["WATCHDOG=1", "WATCHDOG=1"]);
        alive = false;
        await sleep(150); // one ping may already be on its way
        const count = rx.messages.length;
        await sleep(400);
        assert.equal(rx.messages.length, count, "no pings while the liveness check fails");
        assert.ok(missed.length >= 2, `onMissed called: ${JSON.stringify(missed)}`);
        assert.match(missed[0], /withheld/);
        alive = true;
        await rx.waitFor(count + 1);
      } finally {
        handle?.stop();
        await rx.stop();
      }
    },
  );

  test("a throwing liveness check withholds the ping too", async () => {
    let pings = 0;
    const missed: string[] = [];
    const handle = startWatchdog({
      isAlive: () => {
        throw new Error("event loop stuck");
      },
      onMissed: (r) => missed.push(r),
      ping: async () => (pings++, true),
      env: { WATCHDOG_USEC: "40000" },
    });
    try {
      await sleep(150);
      assert.equal(pings, 0);
      assert.match(missed[0] ?? "", /event loop stuck/);
    } finally {
      handle?.stop();
    }
  });
});

describe("sd-notify: other senders", () => {
  test("systemd-notify fallback delivers READY=1", {
    skip: NO_PYTHON || (hasSystemdNotify ? false : "systemd-notify is not installed"),
  }, async () => {
    const rx = await Receiver.start(join(tmp, "fallback.sock"));
    try {
      const result = await sendNotify("READY=1\nSTATUS=via fallback", {
        env: { NOTIFY_SOCKET: rx.address },
        transport: "systemd-notify",
      });
      assert.deepEqual(result, { sent: true, transport: "systemd-notify" });
      const got = await rx.waitFor(1);
      assert.match(got[0], /READY=1/);
      assert.match(got[0], /STATUS=via fallback/);
    } finally {
      await rx.stop();
    }
  });

  const bun = join(ROOT, "node_modules", ".bin", "bun");
  const hasBun = spawnSync(bun, ["--version"]).status === 0;
  test("a Bun-compiled binary sends READY=1 through bun:ffi", {
    skip: NO_PYTHON || (hasBun ? false : "node_modules/.bin/bun is missing"),
  }, async () => {
    const dir = mkdtempSync(join(tmp, "compiled-"));
    const entry = join(dir, "entry.ts");
    writeFileSync(
      entry,
      `import { sendNotify } from ${JSON.stringify(join(ROOT, "src", "runtime", "sd-notify.ts"))};\n` +
        `const r = await sendNotify("READY=1\\nSTATUS=compiled");\nconsole.log(JSON.stringify(r));\n`,
    );
    const outfile = join(dir, "notify-bin");
    const build = spawnSync(bun, [
      "build",
      "--compile",
      "--minify",
      "--bytecode",
      "--format=esm",
      entry,
      "--outfile",
      outfile,
    ], {
      encoding: "utf8",
    });
    assert.equal(build.status, 0, build.stderr);
    const rx = await Receiver.start(`@cfw-compiled-${process.pid}-${Date.now()}`);
    try {
      const run = await new Promise<{ code: number | null; out: string }>((res) => {
        const child = spawn(outfile, [], { env: { NOTIFY_SOCKET: rx.address }, stdio: ["ignore", "pipe", "inherit"] });
        let out = "";
        child.stdout!.on("data", (d) => (out += d));
        child.once("exit", (code) => res({ code, out }));
      });
      assert.equal(run.code, 0);
      assert.deepEqual(JSON.parse(run.out), { sent: true, transport: "ffi" });
      assert.deepEqual(await rx.waitFor(1), ["READY=1\nSTATUS=compiled"]);
    } finally {
      await rx.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
