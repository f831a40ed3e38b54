// Runs the worker children: spawn by role, forward their logs, keep their reported state, restart the dead with
// exponential backoff + jitter, and drain them on shutdown. Never leaves a child behind.
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import process from "node:process";
import { classifyChildLine, type WorkerState } from "./ipc.ts";
import type { Logger } from "../log/logger.ts";
import { writeLine } from "../log/logger.ts";
import type { WorkerRole } from "../model/worker-context.ts";
import { EXIT_CONFIG } from "../model/exit-codes.ts";
import { exponentialDelay, withJitter } from "../util/backoff.ts";

export interface SupervisorOptions {
  roles: Record<WorkerRole, number>;
  logger: Logger;
  /** Command that starts child `index` of `role`. */
  command(role: WorkerRole, index: number): { command: string; args: string[] };
  env: Record<string, string>;
  /** First line sent to every child's stdin (the config message). */
  initMessage: string;
  drainTimeoutMs: number;
  backoffFloorMs?: number;
  backoffMaxMs: number;
  stableMs: number;
  /** Consecutive quick crashes after which a role counts as degraded. */
  degradedAfter?: number;
  /**
   * A child with no state report (heartbeat) for this long is taken as hung — its event loop is blocked, e.g. by
   * CPU-bound work — and is killed and replaced. 0 or unset: never.
   */
  heartbeatTimeoutMs?: number;
  /** Sees every JSON log line a child writes (after it is forwarded), e.g. to keep recent failures. */
  onChildLog?: (line: string) => void;
  /** Before its first report a child is still starting (loading code, waiting for its config): this long at least. */
  startupGraceMs?: number;
}

export interface ChildSnapshot {
  role: WorkerRole;
  index: number;
  id: string;
  pid: number | null;
  alive: boolean;
  ready: boolean;
  reason?: string;
  restarts: number;
  consecutive_crashes: number;
  degraded: boolean;
  uptime_seconds: number;
  in_flight: number;
  last_heartbeat: string | null;
  last_exit: { code: number | null; signal: string | null; at: string; reason?: string } | null;
  /** Times this slot's child was killed because its heartbeats stopped. */
  heartbeat_kills: number;
  next_restart_in_ms: number | null;
  info: Record<string, unknown>;
}

interface Slot {
  role: WorkerRole;
  index: number;
  proc?: ChildProcess;
  startedAt: number;
  restarts: number;
  consecutive: number;
  state?: WorkerState;
  lastHeartbeat?: number;
  lastExit?: ChildSnapshot["last_exit"];
  restartTimer?: ReturnType<typeof setTimeout>;
  nextRestartAt?: number;
  /** Counters of earlier incarnations, so totals never go backwards. */
  retired: Record<string, number>;
  exited?: Promise<void>;
  heartbeatKills: number;
  /** Why we killed the current child, if we did (shown in last_exit). */
  killReason?: string;
}

export class Supervisor {
  private slots: Slot[] = [];
  private shuttingDown = false;
  private heartbeatTimer?: ReturnType<typeof setInterval>;
  private lastHeartbeatCheck = 0;
  readonly startedAt = Date.now();

  constructor(private readonly opts: SupervisorOptions) {
    for (const role of ["processing", "source"] as const) {
      for (let i = 0; i < opts.roles[role]; i++) {
        this.slots.push({ role, index: i, startedAt: 0, restarts: 0, consecutive: 0, retired: {}, heartbeatKills: 0 });
      }
    }
  }

  get draining(): boolean {
    return this.shuttingDown;
  }

  start(): void {
    for (const slot of this.slots) this.spawnChild(slot);
    const timeout = this.opts.heartbeatTimeoutMs ?? 0;
    if (timeout > 0) {
      const every = Math.max(100, Math.min(1000, timeout / 4));
      this.lastHeartbeatCheck = Date.now();
      this.heartbeatTimer = setInterval(() => this.checkHeartbeats(timeout, every), every);
      (this.heartbeatTimer as { unref?: () => void }).unref?.();
    }
  }

  /**
   * Kills (SIGKILL) every child whose last state report is older than `timeout`; the exit handler then restarts
   * it as after a crash. A child that never reported is still starting and gets at least the startup grace. When this check itself ran late (the
   * supervisor's own event loop was held up), the children's queued reports may not have been read yet: that
   * round is skipped.
   */
  private checkHeartbeats(timeout: number, every: number): void {
    const now = Date.now();
    const late = now - this.lastHeartbeatCheck > every * 3;
    this.lastHeartbeatCheck = now;
    if (late || this.shuttingDown) return;
    for (const slot of this.slots) {
      const proc = slot.proc;
      if (!proc?.pid || slot.killReason) continue;
      const silentMs = now - (slot.lastHeartbeat ?? slot.startedAt);
      const limit = slot.lastHeartbeat ? timeout : Math.max(timeout, this.opts.startupGraceMs ?? 30_000);
      if (silentMs <= limit) continue;
      slot.heartbeatKills++;
      slot.killReason = `no heartbeat for ${Math.round(silentMs / 1000)} s (WORKER_HEARTBEAT_TIMEOUT_SECONDS)`;
      this.opts.logger.error("worker stopped sending heartbeats (hung, e.g. a blocked event loop); killing it", {
        role: slot.role,
        index: slot.index,
        child_pid: proc.pid,
        silent_ms: silentMs,
        heartbeat_timeout_ms: timeout,
        in_flight: slot.state?.in_flight ?? 0,
      });
      try {
        process.kill(proc.pid, "SIGKILL");
      } catch { /* already gone */ }
    }
  }

  /** A source worker here just enqueued: processing workers idling in their poll back-off look at the queue now. */
  private wakeProcessing(): void {
    for (const slot of this.slots) {
      if (slot.role !== "processing" || !slot.proc) continue;
      try {
        slot.proc.stdin?.write('{"cmd":"wake"}\n');
      } catch { /* pipe already closed; the exit handler deals with it */ }
    }
  }

  private spawnChild(slot: Slot): void {
    if (this.shuttingDown) return;
    const { command, args } = this.opts.command(slot.role, slot.index);
    const log = this.opts.logger.child({ role: slot.role, index: slot.index });
    let proc: ChildProcess;
    try {
      proc = spawn(command, args, { env: this.opts.env, stdio: ["pipe", "pipe", "pipe"] });
    } catch (err) {
      log.error("could not start worker", { err });
      this.scheduleRestart(slot, null, null);
      return;
    }
    slot.proc = proc;
    slot.startedAt = Date.now();
    slot.state = undefined;
    slot.lastHeartbeat = undefined;
    slot.killReason = undefined;
    proc.stdin?.on("error", () => {/* child gone; exit handler deals with it */});
    proc.stdin?.write(this.opts.initMessage + "\n");
    const wrap = (text: string, stream: string) =>
      writeLine(JSON.stringify({
        time: new Date().toISOString(),
        level: stream === "stderr" ? "error" : "info",
        role: slot.role,
        index: slot.index,
        pid: proc.pid,
        stream,
        msg: text,
      }));
    createInterface({ input: proc.stdout! }).on("line", (line) => {
      const c = classifyChildLine(line);
      if (c.kind === "state") {
        const enqueuedBefore = slot.state?.counters.tasks_enqueued_total ?? 0;
        slot.state = c.state;
        if (slot.role === "source" && (c.state.counters.tasks_enqueued_total ?? 0) > enqueuedBefore) {
          this.wakeProcessing();
        }
        slot.lastHeartbeat = Date.now();
      } else if (c.kind === "log") {
        writeLine(c.line);
        this.opts.onChildLog?.(c.line);
      } else if (c.text.trim()) wrap(c.text, "stdout");
    });
    createInterface({ input: proc.stderr! }).on("line", (line) => {
      if (line.trim()) wrap(line, "stderr");
    });
    slot.exited = new Promise<void>((resolve) => {
      proc.once("exit", (code, signal) => {
        this.onExit(slot, proc, code, signal);
        resolve();
      });
    });
    proc.once("error", (err) => log.error("worker process error", { err }));
    log.info("worker started", { child_pid: proc.pid });
  }

  private onExit(slot: Slot, proc: ChildProcess, code: number | null, signal: string | null): void {
    if (slot.proc !== proc) return;
    for (const [k, val] of Object.entries(slot.state?.counters ?? {})) slot.retired[k] = (slot.retired[k] ?? 0) + val;
    slot.state = undefined;
    slot.proc = undefined;
    slot.lastExit = {
      code,
      signal,
      at: new Date().toISOString(),
      ...(slot.killReason ? { reason: slot.killReason } : {}),
    };
    const log = this.opts.logger.child({ role: slot.role, index: slot.index });
    if (this.shuttingDown) {
      log.info("worker stopped", { exit_code: code, signal });
      return;
    }
    log.warn(slot.killReason ? "hung worker killed; restarting it" : "worker exited unexpectedly", {
      exit_code: code,
      signal,
      uptime_ms: Date.now() - slot.startedAt,
      ...(slot.killReason ? { reason: slot.killReason } : {}),
    });
    this.scheduleRestart(slot, code, signal);
  }

  private scheduleRestart(slot: Slot, code: number | null, _signal: string | null): void {
    const uptime = Date.now() - slot.startedAt;
    if (uptime >= this.opts.stableMs) slot.consecutive = 0;
    slot.consecutive++;
    const floor = this.opts.backoffFloorMs ?? 500;
    let delay = exponentialDelay(floor, slot.consecutive - 1, this.opts.backoffMaxMs);
    if (code === EXIT_CONFIG) {
      delay = this.opts.backoffMaxMs;
      this.opts.logger.error("worker rejected its configuration (exit 78); retrying at the slowest rate", {
        role: slot.role,
        index: slot.index,
      });
    }
    delay = Math.round(withJitter(delay, 0.8, 0.4));
    slot.nextRestartAt = Date.now() + delay;
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = undefined;
      slot.nextRestartAt = undefined;
      slot.restarts++;
      this.spawnChild(slot);
    }, delay);
  }

  /** Drain: ask every child to finish, wait up to the drain timeout, then SIGKILL what is left. */
  async shutdown(reason: string): Promise<void> {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.opts.logger.info("draining workers", { reason, drain_timeout_ms: this.opts.drainTimeoutMs });
    for (const slot of this.slots) {
      if (slot.restartTimer) clearTimeout(slot.restartTimer);
      slot.restartTimer = undefined;
      const proc = slot.proc;
      if (!proc) continue;
      try {
        proc.stdin?.write(JSON.stringify({ cmd: "drain" }) + "\n");
      } catch { /* pipe already closed */ }
      try {
        proc.kill("SIGTERM");
      } catch { /* already gone */ }
    }
    const all = Promise.all(this.slots.map((s) => (s.proc ? s.exited : undefined)));
    const timedOut = await Promise.race([
      all.then(() => false),
      new Promise<boolean>((r) => setTimeout(() => r(true), this.opts.drainTimeoutMs)),
    ]);
    if (timedOut) this.killAll("drain timeout reached");
    await all;
  }

  /** Immediate SIGKILL of every child (second signal, or drain timeout); none is restarted after it. */
  killAll(reason: string): void {
    this.shuttingDown = true;
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    for (const slot of this.slots) {
      if (slot.restartTimer) clearTimeout(slot.restartTimer);
      slot.restartTimer = undefined;
    }
    for (const slot of this.slots) {
      if (slot.proc) {
        this.opts.logger.warn("killing worker", { role: slot.role, index: slot.index, reason });
        // process.kill, not proc.kill: Deno's ChildProcess ignores a second kill() after the SIGTERM.
        try {
          if (slot.proc.pid) process.kill(slot.proc.pid, "SIGKILL");
        } catch { /* already gone */ }
      }
    }
  }

  async waitForExit(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.exited));
  }

  /** PIDs of the running children. */
  childPids(): number[] {
    return this.slots.map((s) => s.proc?.pid).filter((p): p is number => typeof p === "number");
  }

  isDegraded(slot: Slot): boolean {
    return slot.consecutive >= (this.opts.degradedAfter ?? 3) &&
      (!slot.proc || Date.now() - slot.startedAt < this.opts.stableMs);
  }

  snapshot(): ChildSnapshot[] {
    const now = Date.now();
    return this.slots.map((s) => {
      const alive = !!s.proc && s.proc.exitCode === null && s.proc.signalCode === null;
      return {
        role: s.role,
        index: s.index,
        id: s.state?.worker_id ?? `${s.role}-${s.index}`,
        pid: alive ? s.proc!.pid ?? null : null,
        alive,
        ready: alive && !!s.state?.ready && !this.shuttingDown,
        reason: s.state?.reason,
        restarts: s.restarts,
        consecutive_crashes: s.consecutive,
        degraded: this.isDegraded(s),
        uptime_seconds: alive ? Math.round((now - s.startedAt) / 1000) : 0,
        in_flight: s.state?.in_flight ?? 0,
        last_heartbeat: s.lastHeartbeat ? new Date(s.lastHeartbeat).toISOString() : null,
        last_exit: s.lastExit ?? null,
        next_restart_in_ms: s.nextRestartAt ? Math.max(0, s.nextRestartAt - now) : null,
        heartbeat_kills: s.heartbeatKills,
        info: s.state?.info ?? {},
      };
    });
  }

  /** Counters summed per role over live and earlier incarnations. */
  counterTotals(): Record<WorkerRole, Record<string, number>> {
    const out: Record<WorkerRole, Record<string, number>> = { processing: {}, source: {} };
    for (const s of this.slots) {
      const target = out[s.role];
      for (const [k, val] of Object.entries(s.retired)) target[k] = (target[k] ?? 0) + val;
      for (const [k, val] of Object.entries(s.state?.counters ?? {})) target[k] = (target[k] ?? 0) + val;
    }
    return out;
  }

  configured(role: WorkerRole): number {
    return this.opts.roles[role];
  }
}

export function processUptimeSeconds(): number {
  return Math.round(process.uptime());
}
