/**
 * Supervises the fleet's child processes: starts them, streams their logs through one renderer,
 * restarts a crashed one with growing delay, and stops them all (SIGTERM, then SIGKILL after a grace
 * period) when the fleet stops.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import readline from 'node:readline';
import { freePortRange } from '../../libs/testing/src/ports.ts';

export { freePort } from '../../libs/testing/src/ports.ts';
import type { LogRenderer } from './logs.ts';

export interface ProcessSpec {
  name: string;
  command: string;
  args: readonly string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Ready when this TCP port accepts connections, or this URL answers 2xx. */
  ready?: { tcpPort?: number; httpUrl?: string };
}

export interface ProcessState {
  name: string;
  pid: number | undefined;
  status: 'starting' | 'running' | 'restarting' | 'stopped' | 'failed';
  restarts: number;
  lastExit: string | undefined;
}

export interface Supervisor {
  start(spec: ProcessSpec): void;
  waitReady(name: string, timeoutMs: number): Promise<void>;
  states(): ProcessState[];
  stop(graceMs?: number): Promise<void>;
}

interface Entry {
  spec: ProcessSpec;
  child: ChildProcess | undefined;
  state: ProcessState;
  startedAt: number;
  timer: NodeJS.Timeout | undefined;
}

export function createSupervisor(options: {
  renderer: LogRenderer;
  write: (line: string) => void;
  note: (line: string) => void;
}): Supervisor {
  const entries = new Map<string, Entry>();
  let stopping = false;
  // Detached children outlive a supervisor that dies without stopping them; whatever ends this
  // process short of SIGKILL takes them along (SIGKILL: they see their IPC channel close).
  process.on('exit', () => {
    for (const entry of entries.values()) {
      if (entry.child?.pid !== undefined && entry.child.exitCode === null) {
        try {
          process.kill(entry.child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
  });

  const launch = (entry: Entry) => {
    const { spec } = entry;
    // Each child gets its own process group: Ctrl-C in the terminal then reaches only the supervisor,
    // which stops the children with one SIGTERM each (a second signal means "exit at once" to them).
    // The IPC channel carries no messages: it closes when the supervisor dies, even by SIGKILL, and
    // the children (through @veche/service, and the router) stop then instead of living on.
    const child = spawn(spec.command, spec.args, {
      cwd: spec.cwd,
      env: spec.env,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      detached: true,
    });
    entry.child = child;
    entry.startedAt = Date.now();
    entry.state.pid = child.pid;
    entry.state.status = 'starting';
    for (const [stream, source] of [
      ['stdout', child.stdout],
      ['stderr', child.stderr],
    ] as const) {
      if (!source) continue; // piped above: always there
      readline.createInterface({ input: source }).on('line', (text) => {
        options.write(options.renderer.line(spec.name, text, stream));
      });
    }
    child.on('error', (error) => options.note(`${spec.name}: could not start: ${error.message}`));
    child.on('exit', (code, signal) => {
      entry.child = undefined;
      entry.state.pid = undefined;
      entry.state.lastExit = signal ? `signal ${signal}` : `code ${code}`;
      if (stopping) {
        entry.state.status = 'stopped';
        return;
      }
      // A process that ran for a while before crashing starts again quickly; one that keeps crashing waits longer.
      if (Date.now() - entry.startedAt > 30_000) entry.state.restarts = 0;
      const delay = Math.min(30_000, 1_000 * 2 ** entry.state.restarts);
      entry.state.restarts += 1;
      entry.state.status = 'restarting';
      options.note(`${spec.name} exited (${entry.state.lastExit}); restarting in ${delay / 1000} s`);
      entry.timer = setTimeout(() => {
        entry.timer = undefined;
        if (stopping) return;
        launch(entry);
        void readyAgain(entry);
      }, delay);
    });
  };

  /** A restarted process is `running` again once it answers its probe (else /_fleet/ready stays false). */
  const readyAgain = async (entry: Entry): Promise<void> => {
    const child = entry.child;
    while (!stopping && child && entry.child === child) {
      if (await probe(entry.spec)) {
        if (entry.child === child && !stopping) {
          entry.state.status = 'running';
          options.note(`${entry.spec.name} is running again`);
        }
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  };

  const probe = async (spec: ProcessSpec): Promise<boolean> => {
    const { tcpPort, httpUrl } = spec.ready ?? {};
    if (httpUrl) {
      try {
        const response = await fetch(httpUrl, { signal: AbortSignal.timeout(1_000) });
        return response.ok;
      } catch {
        return false;
      }
    }
    if (tcpPort) {
      return new Promise((resolve) => {
        const socket = net.connect({ host: '127.0.0.1', port: tcpPort });
        socket.setTimeout(1_000, () => (socket.destroy(), resolve(false)));
        socket.on('connect', () => (socket.destroy(), resolve(true)));
        socket.on('error', () => resolve(false));
      });
    }
    return true;
  };

  return {
    start(spec) {
      const entry: Entry = {
        spec,
        child: undefined,
        startedAt: 0,
        timer: undefined,
        state: { name: spec.name, pid: undefined, status: 'starting', restarts: 0, lastExit: undefined },
      };
      entries.set(spec.name, entry);
      launch(entry);
    },
    async waitReady(name, timeoutMs) {
      const entry = entries.get(name);
      if (!entry) throw new Error(`no process named ${name}`);
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        if (stopping) return;
        if (entry.child && (await probe(entry.spec))) {
          entry.state.status = 'running';
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      entry.state.status = 'failed';
      throw new Error(`${name} did not become ready within ${timeoutMs / 1000} s`);
    },
    states: () => [...entries.values()].map((e) => ({ ...e.state })),
    async stop(graceMs = 10_000) {
      stopping = true;
      const running = [...entries.values()].filter((e) => {
        if (e.timer) clearTimeout(e.timer);
        return e.child && e.child.exitCode === null && e.child.signalCode === null;
      });
      await Promise.all(
        running.map(
          (entry) =>
            new Promise<void>((resolve) => {
              const child = entry.child;
              if (!child) return resolve();
              const kill = setTimeout(() => {
                options.note(`${entry.spec.name} did not stop within ${graceMs / 1000} s; killing it`);
                child.kill('SIGKILL');
              }, graceMs);
              child.once('exit', () => {
                clearTimeout(kill);
                resolve();
              });
              child.kill('SIGTERM');
            }),
        ),
      );
    },
  };
}

/**
 * `count` consecutive free ports for processes that bind them later: drawn below the kernel's
 * ephemeral range (libs/testing's freePortRange), so no outgoing connection of any process can take
 * one between now and the bind, as happens to a port drawn with `listen(0)`.
 */
export async function freePorts(count: number): Promise<number[]> {
  const { min } = await freePortRange(count);
  return Array.from({ length: count }, (_, i) => min + i);
}
