/** A bad command line: the CLI prints the message and the usage, and exits with code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A failure while running a valid command (unreadable data, an optimizer that is not available): exit code 1. */
export class CliRunError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CliRunError';
  }
}
