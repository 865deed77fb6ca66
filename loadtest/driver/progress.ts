/**
 * A one-line progress bar on stderr, only when stderr is a TTY: CI logs and
 * `--json` pipes stay clean, and stdout is never touched.
 */
export class Progress {
  private lastDraw = 0;
  private readonly on: boolean;

  constructor(
    wanted: boolean,
    private readonly total: number,
  ) {
    this.on = wanted && process.stderr.isTTY === true;
  }

  update(sent: number, delivered: number): void {
    if (!this.on) return;
    const now = performance.now();
    if (now - this.lastDraw < 200) return; // redraw 5×/s: drawing must not cost the driver
    this.lastDraw = now;
    const width = 30;
    const done = Math.round((sent / Math.max(1, this.total)) * width);
    process.stderr.write(`\r[${'#'.repeat(done)}${'.'.repeat(width - done)}] sent ${sent}/${this.total} delivered ${delivered}  `);
  }

  finish(): void {
    if (this.on) process.stderr.write('\n');
  }
}
