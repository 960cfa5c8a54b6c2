// The one way Portico makes a logger: JSON lines on stderr (stdout is for what a person reads),
// written synchronously so the last lines before an exit are not lost. Level from PORTICO_LOG_LEVEL.
import { pino, type Logger } from 'pino';

export function newLogger(bindings?: Record<string, unknown>): Logger {
  const logger = pino({ level: process.env.PORTICO_LOG_LEVEL ?? 'info' }, pino.destination({ dest: 2, sync: true }));
  return bindings ? logger.child(bindings) : logger;
}
