// One run of a container as a process. The command runs under a small `sh` wrapper that is the
// leader of its own process group (so signals reach everything the container started) and writes
// the command's exit status to a file when it ends, so that a runner started later (after an agent
// restart) still learns how an adopted container ended. As root the wrapper runs in the pod's
// network namespace (`ip netns exec`, which also bind-mounts /etc/netns/<ns>/resolv.conf and hosts)
// and in a UTS namespace of its own with the pod's hostname (`unshare --uts`). `ip netns exec`,
// `unshare` and the wrapper all exec, so the pid we record is the wrapper's and stays valid.
// stdout and stderr go to the container's log file directly: the process does not need us to live.
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

// $1 hostname ('' = keep), $2 exit-status file, then the command. Caught signals are reset to
// their defaults in the command; the wrapper's own trap runs only once the command has ended.
const WRAPPER = [
  'h=$1; f=$2; shift 2',
  '[ -n "$h" ] && echo "$h" > /proc/sys/kernel/hostname',
  "trap 'true' TERM INT HUP",
  '"$@"',
  's=$?',
  'echo $s > "$f"',
  'exit $s',
].join('\n');

export interface SpawnSpec {
  argv: string[];
  env: Record<string, string>;
  cwd?: string;
  logFile: string;
  exitFile: string;
  /** Network namespace to run in (root mode), else the runner's own network. */
  netns?: string;
  /** Hostname in a UTS namespace of its own (root mode only). */
  hostname?: string;
}

export interface Spawned {
  pid: number;
  /** Process start time in clock ticks since boot (/proc/PID/stat field 22): tells a reused pid apart. */
  startTicks: string;
  /** Resolves with the wrapper's exit (only for processes this runner started). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** The full argv that starts a container process. Pure. */
export function containerCommand(spec: Pick<SpawnSpec, 'argv' | 'exitFile' | 'netns' | 'hostname'>): string[] {
  const wrapped = ['sh', '-c', WRAPPER, 'portico-container', spec.netns ? (spec.hostname ?? '') : '', spec.exitFile, ...spec.argv];
  return spec.netns ? ['ip', 'netns', 'exec', spec.netns, 'unshare', '--uts', '--', ...wrapped] : wrapped;
}

/** Starts a container process, detached from the runner (it survives the runner's exit). */
export async function spawnContainer(spec: SpawnSpec): Promise<Spawned> {
  const argv = containerCommand(spec);
  const fd = openSync(spec.logFile, 'a');
  try {
    const child = spawn(argv[0]!, argv.slice(1), { env: spec.env, cwd: spec.cwd, detached: true, stdio: ['ignore', fd, fd] });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    const pid = await new Promise<number>((resolve, reject) => {
      child.once('spawn', () => resolve(child.pid!));
      child.once('error', reject);
    });
    child.unref();
    const startTicks = (await processStartTicks(pid)) ?? '';
    return { pid, startTicks, exited };
  } finally {
    closeSync(fd);
  }
}

/** Field 22 of /proc/PID/stat, or undefined when there is no such process. */
export async function processStartTicks(pid: number): Promise<string | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: split after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // rest[0] is field 3 (state); a zombie is as good as gone.
    if (rest[0] === 'Z') return undefined;
    return rest[19];
  } catch {
    return undefined;
  }
}

/** Whether the process recorded as (pid, startTicks) still runs. */
export async function isAlive(pid: number, startTicks: string): Promise<boolean> {
  const t = await processStartTicks(pid);
  return t !== undefined && (startTicks === '' || t === startTicks);
}

/** Signals the container's process group (the wrapper leads it). */
export function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

/** The exit status the wrapper wrote, if it did. */
export async function readExitStatus(exitFile: string): Promise<number | undefined> {
  try {
    const n = Number((await readFile(exitFile, 'utf8')).trim());
    return Number.isInteger(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

/** Terminated-state fields from a shell exit status (128+N means killed by signal N). */
export function terminationOf(status: number | undefined): { exitCode: number; signal?: number; reason: string; message?: string } {
  if (status === undefined) return { exitCode: 137, signal: 9, reason: 'Error', message: 'the process was killed; its exit status is unknown' };
  if (status === 0) return { exitCode: 0, reason: 'Completed' };
  if (status > 128 && status < 160) return { exitCode: status, signal: status - 128, reason: 'Error' };
  return { exitCode: status, reason: 'Error' };
}
