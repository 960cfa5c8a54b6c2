// The CLI contract: `portico up` starts, kubectl sees the four system namespaces, bad usage exits 2
// with one line.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { cleanup, kubectl, makeTempDir, PORTICO_BIN, REPO_ROOT, startPortico, lines } from './harness.js';

after(cleanup);

/** Runs `portico ARGS` to completion (bounded) and collects its output. */
function runPortico(args: string[]): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, [PORTICO_BIN, ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    // A usage error must exit on its own; if it started a server instead, end it (by pid) and fail.
    const t = setTimeout(() => {
      if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
    }, 30_000);
    child.once('error', rej);
    child.once('close', (code, signal) => {
      clearTimeout(t);
      res({ code, signal, stdout, stderr });
    });
  });
}

describe('portico up', () => {
  it('starts, and kubectl get ns lists the four system namespaces as Active', async () => {
    const p = await startPortico();
    const r = await kubectl(p, ['get', 'ns']);
    assert.equal(r.code, 0, r.stderr);
    const rows = lines(r.stdout);
    assert.match(rows[0] ?? '', /^NAME\s+STATUS\s+AGE$/);
    const byName = new Map(rows.slice(1).map((l) => [l.split(/\s+/)[0], l.split(/\s+/)[1]]));
    for (const ns of ['default', 'kube-node-lease', 'kube-public', 'kube-system']) {
      assert.equal(byName.get(ns), 'Active', `namespace ${ns} in:\n${r.stdout}`);
    }
    assert.equal(rows.length, 5, r.stdout);
    await p.stop();
  });

  it('writes the kubeconfig into the data dir and stops on SIGTERM with exit 0', async () => {
    const p = await startPortico();
    assert.ok(existsSync(join(p.dataDir, 'kubeconfig.yaml')));
    const { code, signal } = await p.stop('SIGTERM');
    assert.equal(signal, null);
    assert.equal(code, 0);
  });

  const badUsage: Array<{ why: string; args: (dir: string) => string[]; mentions: RegExp }> = [
    { why: 'unknown flag', args: (d) => ['up', '--data-dir', d, '--bogus'], mentions: /bogus/ },
    { why: 'api-listen not HOST:PORT', args: (d) => ['up', '--data-dir', d, '--api-listen', 'nonsense'], mentions: /api-listen/ },
    { why: 'advertise-address not an IP', args: (d) => ['up', '--data-dir', d, '--advertise-address', 'example.com'], mentions: /--advertise-address: invalid IP address "example\.com"/ },
    // 192.0.2.0/24 is TEST-NET-1, never an address of this host; nothing is sent.
    { why: 'advertise-address not of this host', args: (d) => ['up', '--data-dir', d, '--advertise-address', '192.0.2.1'], mentions: /--advertise-address: 192\.0\.2\.1 is not an address of this host/ },
    { why: 'unknown command', args: () => ['frobnicate'], mentions: /frobnicate/ },
    { why: 'unsupported store', args: (d) => ['up', '--data-dir', d, '--store', 'floppy'], mentions: /store/ },
  ];
  for (const row of badUsage) {
    it(`exits 2 with one line on bad usage: ${row.why}`, async () => {
      const dir = await makeTempDir();
      const r = await runPortico(row.args(join(dir, 'data')));
      assert.equal(r.signal, null, `it did not exit on its own; stdout: ${r.stdout}`);
      assert.equal(r.code, 2, `stderr: ${r.stderr}`);
      const errLines = lines(r.stderr);
      assert.equal(errLines.length, 1, `want exactly one line on stderr, got:\n${r.stderr}`);
      assert.match(errLines[0]!, row.mentions);
      assert.doesNotMatch(r.stdout, /Portico is up/);
    });
  }
});
