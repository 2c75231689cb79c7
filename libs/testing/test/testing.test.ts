import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { freeTcpUdpPort, spawnProcess, startRedis, thrownBy, waitFor } from '../src/index.js';

function redisCommand(port: number, cmd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => s.write(cmd + '\r\n'));
    s.once('data', (d) => {
      s.end();
      resolve(d.toString());
    });
    s.once('error', reject);
  });
}

describe('startRedis', () => {
  it('starts a private server, survives kill+restart, and stops by pid', async () => {
    const redis = await startRedis();
    try {
      expect(await redisCommand(redis.port, 'SET a 1')).toBe('+OK\r\n');
      expect(await redisCommand(redis.port, 'CONFIG GET notify-keyspace-events')).toContain('xE');
      const first = redis.pid;
      await redis.kill();
      await redis.restart();
      expect(redis.pid).not.toBe(first);
      expect(await redisCommand(redis.port, 'GET a')).toBe('$-1\r\n');
    } finally {
      await redis.stop();
    }
    await expect(redisCommand(redis.port, 'PING')).rejects.toThrow();
  });
});

describe('waitFor', () => {
  it('returns the first truthy value', async () => {
    let n = 0;
    await expect(waitFor('n to reach 3', () => (++n >= 3 ? n : undefined), { intervalMs: 1 })).resolves.toBe(
      3,
    );
  });

  it('fails with a message naming what it waited for', async () => {
    await expect(waitFor('the impossible', () => false, { timeoutMs: 30, intervalMs: 5 })).rejects.toThrow(
      /timed out after 30 ms waiting for the impossible/,
    );
  });
});

describe('spawnProcess', () => {
  it('captures output and stops a process that ignores nothing', async () => {
    const p = spawnProcess(process.execPath, ['-e', 'console.log("hello"); setInterval(() => {}, 1000)']);
    await waitFor('hello on stdout', () => p.output().includes('hello'));
    await p.stop(2000);
    const { signal } = await p.exited;
    expect(signal).toBe('SIGTERM');
  });

  it('finds a port free for TCP and UDP', async () => {
    const port = await freeTcpUdpPort();
    expect(port).toBeGreaterThan(0);
  });
});

describe('thrownBy', () => {
  class BadThing extends Error {
    readonly field = 'x';
  }
  it('returns the thrown error of the given class', () => {
    expect(
      thrownBy(() => {
        throw new BadThing('no');
      }, BadThing).field,
    ).toBe('x');
  });
  it('fails when nothing or something else is thrown', () => {
    expect(() => thrownBy(() => 1, BadThing)).toThrow(/expected BadThing to be thrown/);
    expect(() =>
      thrownBy(() => {
        throw new TypeError('other');
      }, BadThing),
    ).toThrow(TypeError);
  });
});
