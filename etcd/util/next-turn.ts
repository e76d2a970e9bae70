/** Resolves on a later turn of the event loop, after pending I/O callbacks: a pause between slices of long work. */
export function nextTurn(): Promise<void> {
  return new Promise<void>((resolve) => setImmediate(resolve));
}
