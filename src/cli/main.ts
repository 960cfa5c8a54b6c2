// `portico` command line: parses flags, runs one of the commands, maps failures to exit codes
// (0 ok, 1 runtime failure, 2 bad usage or bad input) with one line saying why.
import { UsageError } from '../util/errors.js';
import { runUp, runServer } from './up.js';
import { runDns } from './dns.js';
import { runAgent } from './agent.js';
import { runEcho } from '../echo/cli.js';

const USAGE = `usage: portico <command> [flags]

commands:
  up        everything on one host: API server, controllers, DNS (embedded SQLite store)
  server    the control plane and cluster DNS without a node agent
  dns       the cluster DNS server alone, against any API server (--kubeconfig)
  agent     the node agent: Service traffic on this node (--kubeconfig, --mode)
  echo      a small echo server (HTTP, TCP, UDP) answering with its name and both addresses

run 'portico <command> --help' for the flags of a command`;

export async function main(argv: string[]): Promise<void> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'up':
        await runUp(rest);
        return;
      case 'server':
        await runServer(rest);
        return;
      case 'dns':
        await runDns(rest);
        return;
      case 'agent':
        await runAgent(rest);
        return;
      case 'echo':
        await runEcho(rest);
        return;
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        process.stdout.write(USAGE + '\n');
        if (cmd === undefined) process.exitCode = 2;
        return;
      default:
        throw new UsageError(`unknown command "${cmd}" (try: portico --help)`);
    }
  } catch (err) {
    fail(err);
  }
}

export function fail(err: unknown): void {
  const code = err instanceof UsageError ? 2 : 1;
  const msg = err instanceof Error ? err.message : String(err);
  process.stderr.write(`portico: ${msg.split('\n')[0]}\n`);
  // Exit now: an open listener or store must not keep a failed process alive.
  process.exit(code);
}
