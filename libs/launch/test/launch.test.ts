import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  LaunchErrors,
  isLaunchError,
  freePort,
  freePortRange,
  freeTcpUdpPort,
  localPortTaken,
  onFreePort,
  packageBin,
  pickablePorts,
  runSipp,
  spawnBin,
  spawnProcess,
  startRedisServer,
  untilReady,
  waitFor,
} from '../src/index.js';

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

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (err: unknown) => err,
  );
}

describe('startRedisServer', () => {
  it('starts a private server as Redis ships, survives kill+restart (empty), and stops by pid', async () => {
    const redis = await startRedisServer();
    try {
      expect(await redisCommand(redis.port, 'SET a 1')).toBe('+OK\r\n');
      // nothing subscribes to keyspace notifications, so the private server runs without them, like production
      expect(await redisCommand(redis.port, 'CONFIG GET notify-keyspace-events')).toBe(
        '*2\r\n$22\r\nnotify-keyspace-events\r\n$0\r\n\r\n',
      );
      const first = redis.pid;
      await redis.kill();
      await redis.restart();
      expect(redis.pid).not.toBe(first);
      expect(await redisCommand(redis.port, 'GET a')).toBe('$-1\r\n');
    } finally {
      await redis.stop();
    }
    await expect(redisCommand(redis.port, 'PING')).rejects.toThrow();
    expect(fs.existsSync(redis.dir)).toBe(false);
  });

  it('with persistence "aof" keeps its data through kill -9 and restart', async () => {
    const redis = await startRedisServer({ persistence: 'aof' });
    try {
      expect(await redisCommand(redis.port, 'SET kept yes')).toBe('+OK\r\n');
      await redis.kill();
      await redis.restart();
      expect(await redisCommand(redis.port, 'GET kept')).toBe('$3\r\nyes\r\n');
    } finally {
      await redis.stop();
    }
  });

  it('on a fixed port that is taken, fails with LNC_ERR_PORT_IN_USE', async () => {
    // accepts and drops connections, so redis-server cannot bind the port and the readiness ping gets no PONG
    const blocker = net.createServer((s) => s.destroy());
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const { port } = blocker.address() as net.AddressInfo;
    try {
      const err = await rejection(startRedisServer({ port }));
      expect(isLaunchError(err, 'LNC_ERR_PORT_IN_USE')).toBe(true);
    } finally {
      await new Promise((r) => blocker.close(r));
    }
  });
});

describe('onFreePort', () => {
  it('tries again on another port when the first was taken before the process bound it', async () => {
    const tried: number[] = [];
    const port = await onFreePort(async (p) => {
      tried.push(p);
      if (tried.length === 1)
        throw Object.assign(new Error(`listen EADDRINUSE 127.0.0.1:${p}`), { code: 'EADDRINUSE' });
      return p;
    });
    expect(tried).toHaveLength(2);
    expect(port).toBe(tried[1]);
  });

  it('throws any other failure at once, and gives up after `attempts`', async () => {
    let n = 0;
    await expect(
      onFreePort(async () => {
        n++;
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(n).toBe(1);
    n = 0;
    const err = await rejection(
      onFreePort(
        async () => {
          n++;
          throw Object.assign(new Error('taken'), { code: 'EADDRINUSE' });
        },
        { attempts: 3 },
      ),
    );
    expect((err as NodeJS.ErrnoException).code).toBe('EADDRINUSE');
    expect(n).toBe(3);
  });

  it('a free TCP+UDP port binds for both', async () => {
    const port = await freeTcpUdpPort();
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(port, '127.0.0.1', r));
    await new Promise((r) => srv.close(r));
    expect(await freePort()).toBeGreaterThan(0);
  });

  it('picks ports below the kernel ephemeral range, which client connections take their source ports from', async () => {
    const range = pickablePorts();
    expect(range).toBeDefined();
    const [lowest, highest] = range!;
    const ephemeralLow = Number(
      fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').split(/\s+/)[0],
    );
    expect(highest).toBe(ephemeralLow - 1);
    for (let i = 0; i < 20; i++) {
      const port = await freePort();
      expect(port).toBeGreaterThanOrEqual(lowest);
      expect(port).toBeLessThanOrEqual(highest);
    }
    const base = await freePortRange(3);
    expect(base + 2).toBeLessThanOrEqual(highest);
  });

  it('knows the ephemeral range from the kernel file, and leaves no room when the range starts low', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-ports-'));
    try {
      const file = path.join(dir, 'range');
      fs.writeFileSync(file, '40000\t60999\n');
      expect(pickablePorts(file)).toEqual([10_000, 39_999]);
      fs.writeFileSync(file, '1024\t65535\n');
      expect(pickablePorts(file)).toBeUndefined();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a free port range binds every port of it, and a bad count is refused', async () => {
    const base = await freePortRange(3);
    const servers = [0, 1, 2].map(() => net.createServer());
    try {
      for (const [i, srv] of servers.entries())
        await new Promise<void>((r, j) => srv.once('error', j).listen(base + i, '127.0.0.1', r));
    } finally {
      await Promise.all(servers.map((srv) => new Promise((r) => (srv.listening ? srv.close(r) : r(null)))));
    }
    await expect(freePortRange(0)).rejects.toSatisfy((e: unknown) => isLaunchError(e, 'LNC_ERR_PORT_IN_USE'));
  });

  it('a port range skips a base whose neighbour is taken', async () => {
    const held = net.createServer();
    await new Promise<void>((r) => held.listen(0, '127.0.0.1', r));
    const heldPort = (held.address() as net.AddressInfo).port;
    try {
      // the first candidate's neighbour is held: the range must move on to the next candidate
      const candidates = [heldPort - 1, await freePortRange(2)];
      const base = await freePortRange(2, { pick: async () => candidates.shift()! });
      expect(base).not.toBe(heldPort - 1);
      expect(candidates).toHaveLength(0);
    } finally {
      await new Promise((r) => held.close(r));
    }
  });
});

describe('processes', () => {
  it('captures output and stops a process by pid', async () => {
    const p = spawnProcess(process.execPath, ['-e', 'console.log("hello"); setInterval(() => {}, 1000)']);
    await waitFor('hello on stdout', () => p.output().includes('hello'));
    await p.stop(2000);
    expect((await p.exited).signal).toBe('SIGTERM');
  });

  it('untilReady fails at once when the process exits, naming a taken port', async () => {
    const quits = spawnProcess(process.execPath, [
      '-e',
      'console.error("Error: listen EADDRINUSE 127.0.0.1:1")',
    ]);
    const err = await rejection(untilReady(quits, 'never ready', () => false, { timeoutMs: 20_000 }));
    expect(isLaunchError(err, 'LNC_ERR_PORT_IN_USE')).toBe(true);
    const crashes = spawnProcess(process.execPath, ['-e', 'process.exit(3)']);
    const err2 = await rejection(untilReady(crashes, 'never ready', () => false, { timeoutMs: 20_000 }));
    expect(isLaunchError(err2, 'LNC_ERR_NOT_READY')).toBe(true);
  });

  it('waitFor fails with a message naming what it waited for', async () => {
    await expect(waitFor('the impossible', () => false, { timeoutMs: 30, intervalMs: 5 })).rejects.toThrow(
      /timed out after 30 ms waiting for the impossible/,
    );
  });
});

describe('package bins', () => {
  it("runs a package's program through the bin its package.json declares", async () => {
    const bin = packageBin('vitest');
    expect(path.basename(bin)).toBe('vitest.mjs');
    const p = spawnBin('vitest', ['--version']);
    await p.exited;
    expect(p.output()).toMatch(/\d+\.\d+\.\d+/);
  });

  it('a package without that bin fails with LNC_ERR_NO_BIN', () => {
    expect(() => packageBin('@switchyard/core')).toThrow(expect.objectContaining({ code: 'LNC_ERR_NO_BIN' }));
    expect(() => packageBin('vitest', 'nope')).toThrow(expect.objectContaining({ code: 'LNC_ERR_NO_BIN' }));
  });
});

describe('localPortTaken', () => {
  const refused =
    '2026-12-02\t06:41:16.488376\t1796193676.488376: Unable to listen main socket, errno = 98 (Address already in use)';
  it('recognises SIPp stopping before its first call on a taken local port, and nothing else', () => {
    expect(localPortTaken({ created: 0, diagnostics: `sipp -sn uac …\n${refused}` })).toBe(true);
    expect(localPortTaken({ created: NaN, diagnostics: refused.replace('listen', 'bind') })).toBe(true);
    // calls were made: the run's result stands
    expect(localPortTaken({ created: 3, diagnostics: refused })).toBe(false);
    expect(localPortTaken({ created: 0, diagnostics: 'Unable to connect a TCP socket, errno = 111' })).toBe(
      false,
    );
  });
});

describe('runSipp', () => {
  it('runs SIPp uac against a SIPp uas and reads its statistics', async () => {
    const port = await freeTcpUdpPort();
    const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-uas-'));
    const uas = spawnProcess('sipp', ['-sn', 'uas', '-i', '127.0.0.1', '-p', String(port), '-nostdin'], {
      cwd,
    });
    try {
      const r = await runSipp({
        target: `127.0.0.1:${port}`,
        calls: 5,
        rate: 50,
        conferences: ['conf-1', 'conf-2'],
        rtt: true,
      });
      expect(r.successful, r.diagnostics).toBe(5);
      expect(r.failed).toBe(0);
      // -trace_rtt: one response time (whole ms, INVITE → 200) per call
      expect(r.rttMs).toHaveLength(5);
      for (const ms of r.rttMs) expect(Number.isInteger(ms) && ms >= 0).toBe(true);
    } finally {
      await uas.stop(2000);
      fs.rmSync(cwd, { recursive: true, force: true });
    }
  });
  it('with conferences, sends the ACK and BYE to the Contact of the 200 OK (RFC 3261 §12.2.1.1), token and all', async () => {
    // a minimal UAS on a real socket whose Contact carries a URI parameter, as the POP worker's owner token (C9)
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', resolve));
    const port = sock.address().port;
    const contact = `sip:conf-7@127.0.0.1:${port};sy-owner=h1.1.TESTTOKEN`;
    const requestLines: string[] = [];
    sock.on('message', (msg, rinfo) => {
      const text = msg.toString();
      const line = text.slice(0, text.indexOf('\r\n'));
      requestLines.push(line);
      const method = line.split(' ')[0];
      if (method === 'ACK') return;
      const header = (name: string) => text.split('\r\n').find((h) => h.toLowerCase().startsWith(`${name}:`));
      const reply =
        `SIP/2.0 200 OK\r\n${header('via')}\r\n${header('from')}\r\n${header('to')}` +
        `${method === 'INVITE' ? ';tag=uas1' : ''}\r\n${header('call-id')}\r\n${header('cseq')}\r\n` +
        `Contact: <${contact}>\r\nContent-Length: 0\r\n\r\n`;
      sock.send(reply, rinfo.port, rinfo.address);
    });
    try {
      const r = await runSipp({
        target: `127.0.0.1:${port}`,
        calls: 1,
        rate: 10,
        conferences: ['conf-7'],
        timeoutS: 20,
      });
      expect(r.successful, r.diagnostics).toBe(1);
      expect(requestLines).toEqual([
        `INVITE sip:conf-7@127.0.0.1:${port} SIP/2.0`,
        `ACK ${contact} SIP/2.0`,
        `BYE ${contact} SIP/2.0`,
      ]);
    } finally {
      sock.close();
    }
  });
});

describe('errors', () => {
  it('every code is documented in the README', () => {
    const readme = fs.readFileSync(path.resolve(import.meta.dirname, '../README.md'), 'utf8');
    expect(Object.keys(LaunchErrors).filter((c) => !readme.includes(`\`${c}\``))).toEqual([]);
  });
});
