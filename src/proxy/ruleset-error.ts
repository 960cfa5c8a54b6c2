// The common shape of the in-memory kernels' (fake iptables, fake nftables) rejections: a message
// prefixed with the input line it concerns, when known. Subclasses set `name` and `code`.

export class RulesetError extends Error {
  constructor(message: string, readonly line?: number) {
    super(line !== undefined ? `line ${line}: ${message}` : message);
  }
}
