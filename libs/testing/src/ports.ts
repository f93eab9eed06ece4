/**
 * Port ranges for whatever must name its ports before a process binds them (a log-listener's source
 * ports in tests, the local fleet's service ports), chosen where nothing else on the machine takes
 * ports on its own: below the kernel's ephemeral range, above the log-listener's default source
 * ports 20000–20999, and clear of RabbitMQ's 25672. A port drawn with `listen(0)` and handed to a
 * process that binds it seconds later is in the ephemeral range, where any outgoing connection of any
 * process may take it meanwhile (EADDRINUSE, then a service that restarts on the same port for ever:
 * seen in CI as a fleet that never became ready). Each range is checked free when it is handed out,
 * and reserved for the life of the process that drew it, across processes: a file per port in
 * `<tmpdir>/veche-ports`, naming the process. Without it, two processes drawing at once (two fleets
 * starting in two test files) could both find a range free before either bound it; one fleet's
 * services then answered on the other's ports.
 */
import { mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const lowest = 21_000;
const reserved = [{ from: 25_600, to: 25_699 }];

function ephemeralStart(): number {
  try {
    const [start] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/);
    const value = Number(start);
    return Number.isInteger(value) && value > lowest ? value : 32_768;
  } catch {
    return 32_768;
  }
}

const free = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => server.close(() => resolve(true)));
  });

/** Ports this process has handed out: a port is free until its taker binds it, so never give it twice. */
const handedOut = new Set<number>();

const reservations = path.join(os.tmpdir(), 'veche-ports');
/** Ports whose reservation file this process wrote: removed when it exits. */
const reservedHere = new Set<number>();
let releaseOnExit = false;

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** Takes `port` for this process unless another live process holds it (a dead one's file is taken over). */
function reserve(port: number): boolean {
  const file = path.join(reservations, String(port));
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      mkdirSync(reservations, { recursive: true, mode: 0o1777 });
      writeFileSync(file, String(process.pid), { flag: 'wx', mode: 0o644 });
      reservedHere.add(port);
      if (!releaseOnExit) {
        releaseOnExit = true;
        process.on('exit', () => {
          for (const taken of reservedHere) {
            try {
              unlinkSync(path.join(reservations, String(taken)));
            } catch {
              // Gone already: nothing to release.
            }
          }
        });
      }
      return true;
    } catch (error) {
      // A machine where the directory cannot be written: the free check alone, as before.
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') return true;
      let holder = Number.NaN;
      let ageMs = 0;
      try {
        holder = Number(readFileSync(file, 'utf8') || Number.NaN);
        ageMs = Date.now() - statSync(file).mtimeMs;
      } catch {
        continue; // released meanwhile: try again
      }
      if (holder === process.pid) return false;
      // A live holder keeps it; so does a file not written yet (its creator is between open and write).
      if (Number.isInteger(holder) && holder > 0 ? alive(holder) : ageMs < 10_000) return false;
      try {
        unlinkSync(file);
      } catch {
        // Another process took it over first; the next attempt finds its file.
      }
    }
  }
  return false;
}

function release(ports: readonly number[]): void {
  for (const port of ports) {
    if (!reservedHere.delete(port)) continue;
    try {
      unlinkSync(path.join(reservations, String(port)));
    } catch {
      // Gone already.
    }
  }
}

/**
 * `size` consecutive ports, free when checked, outside the ephemeral range and the log-listener's
 * default, none handed out before by this process nor reserved by another live one.
 */
export async function freePortRange(size: number): Promise<{ min: number; max: number }> {
  const top = ephemeralStart() - size;
  for (let attempt = 0; attempt < 50; attempt++) {
    const min = lowest + Math.floor(Math.random() * ((top - lowest) / size)) * size;
    const max = min + size - 1;
    if (reserved.some((r) => min <= r.to && max >= r.from)) continue;
    const ports = Array.from({ length: size }, (_, i) => min + i);
    if (ports.some((port) => handedOut.has(port))) continue;
    for (const port of ports) handedOut.add(port);
    const taken: number[] = [];
    for (const port of ports) {
      if (!reserve(port)) break;
      taken.push(port);
    }
    if (taken.length < size) {
      release(taken);
      continue;
    }
    const checks = await Promise.all(ports.map(free));
    if (checks.every(Boolean)) return { min, max };
    release(ports);
  }
  throw new Error(`no free range of ${size} ports between ${lowest} and ${top + size - 1}`);
}

/** One port for a process that binds it later (a server named in its configuration), as {@link freePortRange}. */
export async function freePort(): Promise<number> {
  return (await freePortRange(1)).min;
}
