/**
 * Log-ins per second through the gateway's real HTTP listener (gateway and router in their own
 * processes). argon2id dominates: the run states its parameters and also measures argon2id alone.
 *
 * Usage: node bench/gateway-logins.ts [--logins 400] [--users 16] [--concurrency 8]
 *                                     [--memory 19456] [--passes 2] [--parallelism 1]
 */
import { argon2, randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { fmt, load, request, startFleet } from './gateway-support.ts';

if (process.argv.includes('--help')) {
  console.log(
    'Usage: node bench/gateway-logins.ts [--logins 400] [--users 16] [--concurrency 8] [--memory KiB] [--passes N] [--parallelism N]',
  );
  process.exit(0);
}
const { values } = parseArgs({
  options: {
    logins: { type: 'string', default: '400' },
    users: { type: 'string', default: '16' },
    concurrency: { type: 'string', default: '8' },
    memory: { type: 'string', default: '19456' },
    passes: { type: 'string', default: '2' },
    parallelism: { type: 'string', default: '1' },
  },
});
const params = {
  memory: Number(values.memory),
  passes: Number(values.passes),
  parallelism: Number(values.parallelism),
};
const logins = Number(values.logins);
const users = Number(values.users);
const concurrency = Number(values.concurrency);

console.log(
  `argon2id m=${params.memory} KiB, t=${params.passes}, p=${params.parallelism}; ${availableParallelism()} cores; libuv pool ${process.env['UV_THREADPOOL_SIZE'] ?? 4}`,
);

// argon2id alone, as many in flight as the log-in run, for the ceiling.
const hashes = await load(
  Math.min(logins, 200),
  concurrency,
  () =>
    new Promise((resolve, reject) =>
      argon2(
        'argon2id',
        { message: 'a password of a usual length', nonce: randomBytes(16), tagLength: 32, ...params },
        (error) => (error ? reject(error) : resolve(true)),
      ),
    ),
);
console.log(`argon2id alone (this process):      ${fmt(hashes)}`);

const fleet = await startFleet({
  ARGON2_MEMORY_KIB: String(params.memory),
  ARGON2_PASSES: String(params.passes),
  ARGON2_PARALLELISM: String(params.parallelism),
});
try {
  const password = 'bench password of some length';
  for (let i = 0; i < users; i += 1) {
    const r = await request(fleet.baseUrl, 'POST', '/api/auth/register', {
      email: `bench${i}@example.org`,
      password,
      displayName: `Bench ${i}`,
    });
    if (r.status !== 201) throw new Error(`register: ${r.status} ${r.body}`);
  }
  const result = await load(logins, concurrency, async (i) => {
    const r = await request(fleet.baseUrl, 'POST', '/api/auth/login', {
      email: `bench${i % users}@example.org`,
      password,
    });
    return r.status === 200;
  });
  console.log(`log-ins through the gateway (HTTP): ${fmt(result)}`);
} finally {
  await fleet.stop();
}
