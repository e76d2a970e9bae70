// Storage errors that must stop the server from starting. Each names the file
// (and offset) so an operator can inspect or restore it.

/** The WAL is damaged somewhere other than a torn tail; serving would risk wrong data. */
export class WalCorruptError extends Error {
  constructor(
    message: string,
    readonly file?: string,
    readonly offset?: number,
  ) {
    super(message);
    this.name = 'WalCorruptError';
  }
}

/** The newest snapshot file fails verification. */
export class SnapshotCorruptError extends Error {
  constructor(
    message: string,
    readonly file: string,
  ) {
    super(message);
    this.name = 'SnapshotCorruptError';
  }
}

/** Another live process holds the data directory. */
export class DataDirLockedError extends Error {
  constructor(
    message: string,
    readonly lockFile: string,
    readonly pid: number,
  ) {
    super(message);
    this.name = 'DataDirLockedError';
  }
}
