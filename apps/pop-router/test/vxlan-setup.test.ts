/**
 * The vxlan kernel set-up: the pure plan, and the real pop-router process in a fresh network namespace (root; CI
 * runs as root) — without `--vxlan-setup` it refuses to start naming what is missing; with it, it creates `vx0`
 * (VNI, port, MAC from its id), the inner address and rp_filter 0, and removes them on SIGTERM.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { vxlanMacFor } from '@switchyard/pop-wire';
import { NetnsLab, waitFor } from '@switchyard/testing';
import { vxlanPlan } from '../src/vxlan/vxlan-device.js';
import { keyringFile, tempDir } from './helpers.js';

const ROUTER_MAIN = path.resolve(import.meta.dirname, '../dist/main.js');
const want = { id: 'h1', address: '198.18.77.1', vxlanPort: 4789, vni: 42, innerAddress: '198.19.0.101' };

describe('vxlanPlan (pure)', () => {
  it('nothing there: creates vx0 with the MAC of the id, then the inner address; undo removes both', () => {
    const p = vxlanPlan(want, { mac: undefined, innerPresent: false, rpFilter: {} });
    expect(p.missing).toHaveLength(2);
    expect(p.missing[0]).toMatch(/^interface vx0 .*id 42 dstport 4789 local 198\.18\.77\.1 nolearning/);
    expect(p.missing[1]).toMatch(/inner address 198\.19\.0\.101 on lo/);
    expect(p.create).toEqual([
      [
        'link',
        'add',
        'vx0',
        'type',
        'vxlan',
        'id',
        '42',
        'dstport',
        '4789',
        'local',
        '198.18.77.1',
        'nolearning',
      ],
      ['link', 'set', 'vx0', 'address', vxlanMacFor('h1')],
      ['link', 'set', 'vx0', 'up'],
      ['addr', 'add', '198.19.0.101/32', 'dev', 'lo'],
    ]);
    expect(p.undo).toEqual([
      ['addr', 'del', '198.19.0.101/32', 'dev', 'lo'],
      ['link', 'del', 'vx0'],
    ]);
  });

  it('all there: nothing to do; a wrong MAC on vx0 is named (the other hosts address its id MAC)', () => {
    expect(vxlanPlan(want, { mac: vxlanMacFor('h1'), innerPresent: true, rpFilter: {} })).toEqual({
      missing: [],
      create: [],
      undo: [],
    });
    const p = vxlanPlan(want, { mac: '02:00:00:00:00:99', innerPresent: true, rpFilter: {} });
    expect(p.missing).toEqual([expect.stringContaining(`vx0 MAC ${vxlanMacFor('h1')}`)]);
  });
});

const root = process.getuid?.() === 0;

describe.skipIf(!root)('pop-router vxlan set-up in a namespace (root)', () => {
  it('refuses without vx0 naming what is missing; --vxlan-setup creates it and SIGTERM removes it', async () => {
    const lab = await NetnsLab.create('vxlan-setup');
    try {
      const ns = await lab.namespace('h1');
      await lab.address(ns, 'lo', '198.18.77.1/32');
      const args = [
        ROUTER_MAIN,
        '--id',
        'h1',
        '--address',
        '198.18.77.1',
        '--gossip-transport',
        'unicast',
        '--gossip-profile',
        'test',
        '--encapsulation',
        'vxlan',
        '--keyring-file',
        keyringFile(tempDir()),
        '--host',
        '127.0.0.1',
        '--port',
        '0',
      ];
      const env = { ...process.env, POPR_TOKEN: 'vxlan-setup-test-token' };
      const refused = lab.exec(ns, process.execPath, args, { env });
      const exit = await refused.exited;
      expect(exit.code).toBe(1);
      expect(refused.output()).toMatch(/POP_ERR_VXLAN.*interface vx0.*inner address 198\.19\.0\.101 on lo/s);
      expect(await lab.ip(ns, 'link', 'show')).not.toMatch(/vx0/);

      const router = lab.exec(ns, process.execPath, [...args, '--vxlan-setup'], { env });
      await waitFor(
        `pop-router ready: ${router.output()}`,
        () => router.output().includes('"popRouter":"ready"'),
        {
          timeoutMs: 60_000,
        },
      );
      const link = await lab.ip(ns, '-d', 'link', 'show', 'vx0');
      expect(link).toContain(vxlanMacFor('h1'));
      expect(link).toMatch(/vxlan id 42 .*local 198\.18\.77\.1.*dstport 4789/s);
      expect(await lab.ip(ns, 'addr', 'show', 'dev', 'lo')).toContain('198.19.0.101/32');
      expect((await lab.run(ns, 'cat', ['/proc/sys/net/ipv4/conf/vx0/rp_filter'])).trim()).toBe('0');

      await router.stop(10_000);
      expect((await router.exited).code).toBe(0);
      expect(await lab.ip(ns, 'link', 'show')).not.toMatch(/vx0/);
      expect(await lab.ip(ns, 'addr', 'show', 'dev', 'lo')).not.toContain('198.19.0.101');
    } finally {
      await lab.dispose();
    }
  }, 120_000);
});
