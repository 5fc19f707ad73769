/**
 * The console's line discipline: turns keystrokes into whole lines, with the echo a terminal
 * expects. Pure (no I/O), so it is tested on its own. Feed it text already decoded from the ring;
 * it keeps the half-typed line between calls.
 */

/** What one feed() produced: text to echo back, finished lines, and Ctrl-C presses. */
export interface EditResult {
  echo: string;
  lines: string[];
  interrupts: number;
}

const BS = "\b \b"; // move back, blank the cell, move back again

/** Longest line kept; keys past it are dropped (a flood must not grow memory without bound). */
export const MAX_LINE = 4096;

export class LineEditor {
  private line: string[] = [];
  private lastWasCR = false;
  private esc: 0 | 1 | 2 = 0; // inside an ANSI escape: 1 after ESC, 2 after ESC [

  /** The line typed so far (for redrawing a prompt after output). */
  get pending(): string {
    return this.line.join("");
  }

  /**
   * Processes keys:
   * - printable text is appended and echoed;
   * - Backspace (DEL 0x7f or BS 0x08) erases one character;
   * - Ctrl-U erases the whole line; Ctrl-C drops it and counts an interrupt;
   * - CR, LF or CRLF ends the line (CRLF counts once);
   * - ANSI escape sequences (arrow keys) and other control characters are ignored.
   */
  feed(text: string): EditResult {
    const out: EditResult = { echo: "", lines: [], interrupts: 0 };
    for (const ch of text) {
      const wasCR = this.lastWasCR;
      this.lastWasCR = false;
      if (this.esc === 1) {
        this.esc = ch === "[" ? 2 : 0;
        continue;
      }
      if (this.esc === 2) {
        // CSI parameters are digits and ';'; the final byte is in @..~.
        if (ch >= "@" && ch <= "~") this.esc = 0;
        continue;
      }
      switch (ch) {
        case "\r":
        case "\n":
          if (ch === "\n" && wasCR) continue;
          this.lastWasCR = ch === "\r";
          out.lines.push(this.line.join(""));
          this.line = [];
          out.echo += "\r\n";
          break;
        case "\x7f":
        case "\b":
          if (this.line.length > 0) {
            this.line.pop();
            out.echo += BS;
          }
          break;
        case "\x15": // Ctrl-U
          out.echo += BS.repeat(this.line.length);
          this.line = [];
          break;
        case "\x03": // Ctrl-C
          this.line = [];
          out.echo += "^C\r\n";
          out.interrupts++;
          break;
        case "\x1b":
          this.esc = 1;
          break;
        default:
          if (ch < " ") break; // other control characters: ignore
          if (this.line.length >= MAX_LINE) break;
          this.line.push(ch);
          out.echo += ch;
      }
    }
    return out;
  }
}
