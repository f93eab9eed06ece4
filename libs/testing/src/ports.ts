/**
 * Port ranges for whatever must name its ports before a process binds them (a log-listener's source
 * ports in tests, the local fleet's service ports), chosen where nothing else on the machine takes
 * ports on its own: below the kernel's ephemeral range, above the log-listener's default source
 * ports 20000–20999, and clear of RabbitMQ's 25672. A port drawn with `listen(0)` and handed to a
 * process that binds it seconds later is in the ephemeral range, where any outgoing connection of any
 * process may take it meanwhile (EADDRINUSE, then a service that restarts on the same port for ever:
 * seen in CI as a fleet that never became ready). Each range is checked free when it is handed out.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';

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

/**
 * `size` consecutive ports, free when checked, outside the ephemeral range and the log-listener's
 * default, none handed out before by this process.
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
    const checks = await Promise.all(ports.map(free));
    if (checks.every(Boolean)) return { min, max };
  }
  throw new Error(`no free range of ${size} ports between ${lowest} and ${top + size - 1}`);
}

/** One port for a process that binds it later (a server named in its configuration), as {@link freePortRange}. */
export async function freePort(): Promise<number> {
  return (await freePortRange(1)).min;
}
