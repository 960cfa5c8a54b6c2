// The exec contract shared by the kernel appliers (nftables, iptables) and the agent's conntrack
// flusher: one injected function that runs an argv with a stdin text, plus the production
// implementation over child_process.spawn and the common shape of an applier's error.

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `argv[0] argv[1..]` with `stdin`; e.g. ['nft', '-f', '-'] or ['ip', 'netns', 'exec', NS, 'nft', '-f', '-']. */
export type Exec = (argv: string[], stdin: string) => Promise<ExecResult>;

/** An applier's failure: what the kernel tool said on stderr ('' when it did not run). Subclasses set `name` and `code`. */
export class ApplyError extends Error {
  constructor(message: string, readonly stderr: string) {
    super(message);
  }
}

/** The first non-blank line of stderr, else `exit code N`. */
export function firstStderrLine(r: ExecResult): string {
  return r.stderr.split('\n').find((l) => l.trim() !== '') ?? `exit code ${r.code}`;
}

/** An Exec backed by child_process.spawn (what the agent injects in production). */
export async function spawnExec(argv: string[], stdin: string): Promise<ExecResult> {
  const { spawn } = await import('node:child_process');
  return new Promise((resolve, reject) => {
    const [cmd, ...args] = argv;
    if (!cmd) return reject(new Error('empty argv'));
    const p = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
    p.stdin.on('error', () => undefined);
    p.stdin.end(stdin);
  });
}
