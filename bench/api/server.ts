// Starts a private Portico (`portico up`) for the benchmark and reads what it exposes: the API URL,
// the kubeconfig's CA and token, and the process's RSS and CPU time from /proc.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';

export interface Portico {
  pid: number;
  url: URL;
  ca: string;
  token: string;
  logPath: string;
  stop(): Promise<number | null>;
}

interface Kubeconfig {
  clusters?: Array<{ cluster?: { server?: string; 'certificate-authority-data'?: string } }>;
  users?: Array<{ user?: { token?: string } }>;
}

export async function startPortico(opts: { repoRoot: string; dataDir: string; store: 'sqlite' | 'memory'; timeoutMs?: number }): Promise<Portico> {
  const logPath = join(opts.dataDir, 'portico.log');
  const log = createWriteStream(logPath);
  // BENCH_NODE_FLAGS passes V8 flags to the server, e.g. `--cpu-prof --cpu-prof-dir=DIR` or
  // `--heapsnapshot-signal=SIGUSR2`, to see where its time and memory go.
  // The V8 flags `npx portico` runs with (bin/portico.js's `#!/usr/bin/env -S node ...` line) come
  // first, so the benchmark measures the server as users start it.
  const nodeFlags = [...(await launcherFlags(opts.repoRoot)), ...(process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean)];
  const child: ChildProcess = spawn(
    process.execPath,
    // `portico server`: the control plane (API, controllers, cluster DNS) without the node agent and
    // pod runner `portico up` adds, which would program this host's data plane and start the Pods.
    // DNS on port 0 too, so a Portico another engineer runs on the defaults is never disturbed.
    [...nodeFlags, join(opts.repoRoot, 'bin/portico.js'), 'server', '--data-dir', opts.dataDir, '--api-listen', '127.0.0.1:0', '--dns-listen', '127.0.0.1:0', '--store', opts.store],
    { cwd: opts.dataDir, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stderr?.pipe(log);
  const pid = child.pid;
  if (pid === undefined) throw new Error('could not start portico');
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));

  const url = await new Promise<URL>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`portico did not report ready within ${opts.timeoutMs ?? 60_000} ms (log: ${logPath})`)), opts.timeoutMs ?? 60_000);
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /Portico is up: API (https:\/\/\S+)/.exec(out);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(new URL(m[1]));
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`portico exited with ${code} before it was ready (log: ${logPath})`));
    });
  }).catch(async (err: unknown) => {
    child.kill('SIGKILL');
    throw err;
  });

  const kc = parseYaml(await readFile(join(opts.dataDir, 'kubeconfig.yaml'), 'utf8')) as Kubeconfig;
  const caData = kc.clusters?.[0]?.cluster?.['certificate-authority-data'];
  const token = kc.users?.[0]?.user?.token;
  if (!caData || !token) throw new Error('kubeconfig.yaml lacks certificate-authority-data or a token');

  return {
    pid,
    url,
    ca: Buffer.from(caData, 'base64').toString('utf8'),
    token,
    logPath,
    async stop() {
      if (child.exitCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 15_000).unref());
      const r = await Promise.race([exited, timeout]);
      if (r === 'timeout') {
        child.kill('SIGKILL');
        return exited;
      }
      return r;
    },
  };
}

/** The node flags on the launcher's `#!` line (after `node`). */
export async function launcherFlags(repoRoot: string): Promise<string[]> {
  const first = (await readFile(join(repoRoot, 'bin/portico.js'), 'utf8')).split('\n', 1)[0] ?? '';
  const m = /^#!.*?\bnode\b(.*)$/.exec(first);
  return (m?.[1] ?? '').split(' ').filter(Boolean);
}

/** VmRSS and VmHWM (peak) of a process, in MiB. */
export async function memoryOf(pid: number): Promise<{ rssMiB: number; peakMiB: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rssMiB: kb('VmRSS') / 1024, peakMiB: kb('VmHWM') / 1024 };
}

/** User + system CPU seconds the process has used so far (USER_HZ is 100 on Linux). */
export async function cpuSecondsOf(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which is in parentheses and may contain spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}
