/** At most `size` holders at once; the others wait in arrival order. */
export class Semaphore {
  #free: number;
  readonly #waiting: (() => void)[] = [];

  constructor(size: number) {
    this.#free = size;
  }

  /** Resolves with the function that gives the slot back. */
  acquire(): Promise<() => void> {
    const release = (): void => {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#free += 1;
    };
    if (this.#free > 0) {
      this.#free -= 1;
      return Promise.resolve(release);
    }
    return new Promise((resolve) => this.#waiting.push(() => resolve(release)));
  }
}
