/** Where snapshot progress goes: a live display on a terminal, log lines otherwise. */
export interface SnapshotProgress {
  tableStarted(table: string, rowsTotal: number, rowsDone: number): void;
  rowsCopied(table: string, rows: number): void;
  tableCopied(table: string): void;
}

export const NO_PROGRESS: SnapshotProgress = {
  tableStarted() {},
  rowsCopied() {},
  tableCopied() {},
};
