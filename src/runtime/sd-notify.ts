// systemd notification protocol (sd_notify) for Type=notify services: READY=1, STATUS=…, STOPPING=1, WATCHDOG=1,
// EXTEND_TIMEOUT_USEC=…. Node, Bun and Deno have no AF_UNIX datagram sockets, so the message is sent with libc's
// socket()/sendto() through FFI (bun:ffi on Bun and the compiled binary, Deno.dlopen on Deno). Where FFI is not
// available the `systemd-notify` program is spawned instead; systemd then sees the message coming from a child
// process, so that fallback only works with NotifyAccess=all (our unit uses NotifyAccess=main).
// Without $NOTIFY_SOCKET (not started by systemd) every call is a no-op that returns false.
import process from "node:process";
import { spawn } from "node:child_process";
import { errorText } from "../util/errors.ts";

declare const Bun: any;
declare const Deno: any;

/** Variables systemd sets for the main process only; children must not see them (they would talk to systemd). */
export const SYSTEMD_ENV_VARS = [
  "NOTIFY_SOCKET",
  "WATCHDOG_USEC",
  "WATCHDOG_PID",
  "LISTEN_FDS",
  "LISTEN_PID",
  "LISTEN_FDNAMES",
] as const;

type Env = Record<string, string | undefined>;

/** A copy of `env` without the systemd variables, for the environment of child processes. */
export function childEnvWithoutSystemd(env: Env = process.env as Env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined || (SYSTEMD_ENV_VARS as readonly string[]).includes(key)) continue;
    out[key] = value;
  }
  return out;
}

const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const MSG_DONTWAIT = 0x40;
const MSG_NOSIGNAL = 0x4000;
/** sizeof(sockaddr_un.sun_path) on Linux. */
const SUN_PATH_MAX = 108;

/**
 * `struct sockaddr_un` for a NOTIFY_SOCKET value: an absolute path, or `@name` for the abstract namespace
 * (sun_path starts with a NUL byte and the address length excludes any trailing NUL).
 */
export function notifySocketAddress(socket: string): Uint8Array {
  const abstract = socket.startsWith("@");
  if (!abstract && !socket.startsWith("/")) {
    throw new Error(`NOTIFY_SOCKET=${socket} is neither an absolute path nor an abstract socket (@name)`);
  }
  const name = new TextEncoder().encode(abstract ? socket.slice(1) : socket);
  const pathBytes = abstract ? 1 + name.length : name.length + 1;
  if (pathBytes > SUN_PATH_MAX) throw new Error(`NOTIFY_SOCKET is longer than ${SUN_PATH_MAX} bytes`);
  const addr = new Uint8Array(2 + pathBytes);
  new DataView(addr.buffer).setUint16(0, AF_UNIX, true);
  addr.set(name, abstract ? 3 : 2);
  return addr;
}

interface DatagramSender {
  /** Sends one datagram; returns 0 on success or the errno. */
  send(address: Uint8Array, message: Uint8Array): number;
}

const LIBC_CANDIDATES = ["libc.so.6", "libc.so", "libc.musl-x86_64.so.1", "libc.musl-aarch64.so.1"];

async function loadBunSender(): Promise<DatagramSender> {
  // A computed specifier keeps Deno's type checker from resolving a Bun-only module; Bun still loads it,
  // also inside a compiled binary.
  const specifier = "bun:ffi";
  const ffi = await import(specifier);
  const { dlopen, FFIType, read } = ffi;
  let lastError: unknown;
  for (const name of LIBC_CANDIDATES) {
    try {
      const lib = dlopen(name, {
        socket: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
        sendto: {
          args: [FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.i32, FFIType.ptr, FFIType.u32],
          returns: FFIType.i64,
        },
        close: { args: [FFIType.i32], returns: FFIType.i32 },
        __errno_location: { args: [], returns: FFIType.ptr },
      });
      const s = lib.symbols;
      const errno = (): number => read.i32(s.__errno_location(), 0);
      return {
        send(address, message) {
          const fd = s.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
          if (fd < 0) return errno();
          try {
            const sent = s.sendto(fd, message, message.length, MSG_NOSIGNAL | MSG_DONTWAIT, address, address.length);
            return Number(sent) === message.length ? 0 : errno();
          } finally {
            s.close(fd);
          }
        },
      };
    } catch (err) {
      lastError = err;
    }
  }
  throw lastError;
}

function loadDenoSender(): DatagramSender {
  let lastError: unknown;
  for (const name of LIBC_CANDIDATES) {
    try {
      const lib = Deno.dlopen(name, {
        socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
        sendto: { parameters: ["i32", "buffer", "usize", "i32", "buffer", "u32"], result: "isize" },
        close: { parameters: ["i32"], result: "i32" },
        __errno_location: { parameters: [], result: "pointer" },
      });
      const s = lib.symbols;
      const errno = (): number => new Deno.UnsafePointerView(s.__errno_location()).getInt32();
      return {
        send(address, message) {
          const fd = s.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
          if (fd < 0) return errno();
          try {
            const sent = s.sendto(
              fd,
              message,
              BigInt(message.length),
              MSG_NOSIGNAL | MSG_DONTWAIT,
              address,
              address.length,
            );
            return Number(sent) === message.length ? 0 : errno();
          } finally {
            s.close(fd);
          }
        },
      };
    } catch (err) {
      lastError = err;
    }
  }
  throw lastError;
}

let ffiSender: Promise<DatagramSender | Error> | undefined;

/** The libc sender of this runtime, or the reason FFI cannot be used (loaded once per process). */
function libcSender(): Promise<DatagramSender | Error> {
  ffiSender ??= (async () => {
    try {
      if (typeof Bun !== "undefined") return await loadBunSender();
      if (typeof Deno !== "undefined") return loadDenoSender();
      return new Error("no FFI on this runtime");
    } catch (err) {
      return err instanceof Error ? err : new Error(String(err));
    }
  })();
  return ffiSender;
}

export type NotifyTransport = "ffi" | "systemd-notify";

export interface NotifyResult {
  sent: boolean;
  /** How it was sent (or tried); undefined when NOTIFY_SOCKET is unset. */
  transport?: NotifyTransport;
  /** Why it was not sent. */
  error?: string;
}

export interface NotifyOptions {
  /** Environment to read NOTIFY_SOCKET from (default process.env). */
  env?: Env;
  /** Force a transport (tests); by default FFI, then systemd-notify when FFI cannot be loaded. */
  transport?: NotifyTransport;
}

const ERRNO_NAMES: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  11: "EAGAIN",
  13: "EACCES",
  97: "EAFNOSUPPORT",
  111: "ECONNREFUSED",
};

/** Sends `state` (newline-separated VAR=value assignments) to the service manager. */
export async function sendNotify(state: string, opts: NotifyOptions = {}): Promise<NotifyResult> {
  const socket = (opts.env ?? (process.env as Env)).NOTIFY_SOCKET;
  if (!socket) return { sent: false, error: "NOTIFY_SOCKET is not set" };
  if (opts.transport !== "systemd-notify") {
    const sender = await libcSender();
    if (!(sender instanceof Error)) {
      let address: Uint8Array;
      try {
        address = notifySocketAddress(socket);
      } catch (err) {
        return { sent: false, transport: "ffi", error: (err as Error).message };
      }
      const errno = sender.send(address, new TextEncoder().encode(state));
      if (errno === 0) return { sent: true, transport: "ffi" };
      return {
        sent: false,
        transport: "ffi",
        error: `sendto ${socket} failed: ${ERRNO_NAMES[errno] ?? `errno ${errno}`}`,
      };
    }
    if (opts.transport === "ffi") return { sent: false, transport: "ffi", error: `FFI unavailable: ${sender.message}` };
  }
  return await sendWithSystemdNotify(state, socket);
}

const SYSTEMD_NOTIFY_TIMEOUT_MS = 5_000;

function sendWithSystemdNotify(state: string, socket: string): Promise<NotifyResult> {
  const assignments = state.split("\n").filter((line) => line.length > 0);
  return new Promise((resolve) => {
    let settled = false;
    const finish = (result: NotifyResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const child = spawn("systemd-notify", assignments, {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", NOTIFY_SOCKET: socket },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr?.on("data", (d) => (stderr = (stderr + d).slice(-500)));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      finish({ sent: false, transport: "systemd-notify", error: "systemd-notify did not finish within 5 s" });
    }, SYSTEMD_NOTIFY_TIMEOUT_MS);
    child.once(
      "error",
      (err) => finish({ sent: false, transport: "systemd-notify", error: `cannot run systemd-notify: ${err.message}` }),
    );
    child.once("exit", (code) =>
      finish(
        code === 0
          ? { sent: true, transport: "systemd-notify" }
          : { sent: false, transport: "systemd-notify", error: `systemd-notify exited ${code}: ${stderr.trim()}` },
      ));
  });
}

/** Sends `state` to systemd; false when not under systemd (NOTIFY_SOCKET unset) or when sending failed. */
export async function sdNotify(state: string, opts?: NotifyOptions): Promise<boolean> {
  return (await sendNotify(state, opts)).sent;
}

/** STATUS= takes one line; newlines would start new (bogus) assignments. */
function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, " ").trim();
}

/** READY=1 (with an optional STATUS line): systemctl start returns, dependants start. */
export function notifyReady(status?: string, opts?: NotifyOptions): Promise<boolean> {
  return sdNotify(status ? `READY=1\nSTATUS=${oneLine(status)}` : "READY=1", opts);
}

/** STATUS=…: the line `systemctl status` shows. */
export function notifyStatus(status: string, opts?: NotifyOptions): Promise<boolean> {
  return sdNotify(`STATUS=${oneLine(status)}`, opts);
}

/** STOPPING=1 (with an optional STATUS line): shutdown has begun. */
export function notifyStopping(status?: string, opts?: NotifyOptions): Promise<boolean> {
  return sdNotify(status ? `STOPPING=1\nSTATUS=${oneLine(status)}` : "STOPPING=1", opts);
}

/**
 * EXTEND_TIMEOUT_USEC=…: asks for `ms` more from now before the current start/stop timeout (TimeoutStopSec while
 * stopping) fires. Must be repeated before each extension runs out.
 */
export function notifyExtendTimeout(ms: number, opts?: NotifyOptions): Promise<boolean> {
  return sdNotify(`EXTEND_TIMEOUT_USEC=${Math.max(0, Math.round(ms * 1000))}`, opts);
}

/** WATCHDOG=1: one keep-alive ping. */
export function notifyWatchdog(opts?: NotifyOptions): Promise<boolean> {
  return sdNotify("WATCHDOG=1", opts);
}

/**
 * The watchdog period in ms when systemd expects pings from this process: WATCHDOG_USEC is set and
 * WATCHDOG_PID is unset or equals our pid. Undefined otherwise.
 */
export function watchdogTimeoutMs(env: Env = process.env as Env, pid = process.pid): number | undefined {
  const usec = Number(env.WATCHDOG_USEC);
  if (!env.WATCHDOG_USEC || !Number.isFinite(usec) || usec <= 0) return undefined;
  if (env.WATCHDOG_PID && Number(env.WATCHDOG_PID) !== pid) return undefined;
  return usec / 1000;
}

export interface WatchdogOptions {
  /** Checked before every ping; no ping while it returns false (or throws), so systemd kills a wedged process. */
  isAlive: () => boolean | Promise<boolean>;
  /** Called when a ping is withheld or could not be sent. */
  onMissed?: (reason: string) => void;
  env?: Env;
  pid?: number;
  /** Sends the ping (default: notifyWatchdog). */
  ping?: () => Promise<boolean>;
}

export interface WatchdogHandle {
  intervalMs: number;
  stop(): void;
}

/**
 * Pings WATCHDOG=1 at half the watchdog period while `isAlive()` passes. Undefined when systemd has no
 * watchdog for this process (WatchdogSec unset, or WATCHDOG_PID names another process).
 */
export function startWatchdog(opts: WatchdogOptions): WatchdogHandle | undefined {
  const timeoutMs = watchdogTimeoutMs(opts.env, opts.pid);
  if (timeoutMs === undefined) return undefined;
  const intervalMs = Math.max(1, Math.floor(timeoutMs / 2));
  const env = opts.env;
  const ping = opts.ping ?? (() => notifyWatchdog({ env }));
  let busy = false;
  const tick = async () => {
    if (busy) return; // A liveness check slower than the interval counts as a miss, not as a second check.
    busy = true;
    try {
      let alive: boolean;
      try {
        alive = await opts.isAlive();
      } catch (err) {
        opts.onMissed?.(`liveness check threw (${errorText(err)}); watchdog ping withheld`);
        return;
      }
      if (!alive) {
        opts.onMissed?.("liveness check failed; watchdog ping withheld");
        return;
      }
      if (!(await ping())) opts.onMissed?.("watchdog ping could not be sent");
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void tick(), intervalMs);
  // The watchdog alone must not keep the process alive.
  (timer as { unref?: () => void }).unref?.();
  return { intervalMs, stop: () => clearInterval(timer) };
}
