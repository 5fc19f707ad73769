/**
 * The syntax of xl.cfg(5) files: `key = value` settings, one per line (or separated by `;`), where a
 * value is a quoted string, a number or a bracketed list that may span lines; `#` starts a comment.
 * This file only tokenizes and parses; cfg.ts gives the settings their meaning. Every error carries
 * the line it was found on.
 */

export type CfgValue = string | number | CfgValue[];

export interface CfgSetting {
  key: string;
  value: CfgValue;
  line: number;
}

/** A config problem, already phrased for the user: `demo.cfg:4: memory: expected ...`. */
export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly key: string | undefined,
    readonly problem: string,
  ) {
    super(`${file}:${line}: ${key ? `${key}: ` : ""}${problem}`);
    this.name = "ConfigError";
  }
}

type Token = { kind: "ident" | "string" | "number" | "punct"; text: string; line: number };

function tokenize(file: string, text: string): Token[] {
  const tokens: Token[] = [];
  let line = 1;
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === "\n") {
      tokens.push({ kind: "punct", text: "\n", line });
      line++;
      i++;
    } else if (c === " " || c === "\t" || c === "\r") i++;
    else if (c === "#") while (i < text.length && text[i] !== "\n") i++;
    else if (c === '"' || c === "'") {
      const start = line;
      let j = i + 1;
      let s = "";
      while (j < text.length && text[j] !== c) {
        if (text[j] === "\n") throw new ConfigError(file, start, undefined, "unterminated string");
        if (text[j] === "\\" && j + 1 < text.length) j++;
        s += text[j];
        j++;
      }
      if (j >= text.length) throw new ConfigError(file, start, undefined, "unterminated string");
      tokens.push({ kind: "string", text: s, line });
      i = j + 1;
    } else if (/[0-9]/.test(c)) {
      const m = /^(0x[0-9a-fA-F]+|[0-9]+)/.exec(text.slice(i))!;
      tokens.push({ kind: "number", text: m[0], line });
      i += m[0].length;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i))!;
      tokens.push({ kind: "ident", text: m[0], line });
      i += m[0].length;
    } else if ("=[],;".includes(c)) {
      tokens.push({ kind: "punct", text: c, line });
      i++;
    } else throw new ConfigError(file, line, undefined, `unexpected character ${JSON.stringify(c)}`);
  }
  return tokens;
}

/** Parses a whole file into settings, in order. A key set twice is an error (xl would silently take the last). */
export function parseCfgSyntax(file: string, text: string): CfgSetting[] {
  const t = tokenize(file, text);
  let p = 0;
  const skipNewlines = () => {
    while (p < t.length && t[p]!.text === "\n" && t[p]!.kind === "punct") p++;
  };

  function value(key: string, line: number): CfgValue {
    skipNewlines();
    const tok = t[p];
    if (!tok) throw new ConfigError(file, line, key, "missing value after `=`");
    if (tok.kind === "string") return (p++, tok.text);
    if (tok.kind === "number") return (p++, Number(tok.text));
    if (tok.kind === "punct" && tok.text === "[") {
      p++;
      const items: CfgValue[] = [];
      for (;;) {
        skipNewlines();
        const next = t[p];
        if (!next) throw new ConfigError(file, line, key, "unterminated list (missing `]`)");
        if (next.kind === "punct" && next.text === "]") return (p++, items);
        items.push(value(key, next.line));
        skipNewlines();
        const sep = t[p];
        if (!sep) throw new ConfigError(file, line, key, "unterminated list (missing `]`)");
        if (sep.kind === "punct" && sep.text === ",") p++;
        else if (!(sep?.kind === "punct" && sep.text === "]"))
          throw new ConfigError(file, sep.line, key, "expected `,` or `]` in list");
      }
    }
    throw new ConfigError(
      file,
      tok.line,
      key,
      `expected a quoted string, a number or a [list], got ${JSON.stringify(tok.text)}`,
    );
  }

  const settings: CfgSetting[] = [];
  const seen = new Map<string, number>();
  for (;;) {
    skipNewlines();
    const tok = t[p];
    if (!tok) break;
    if (tok.kind === "punct" && tok.text === ";") {
      p++;
      continue;
    }
    if (tok.kind !== "ident")
      throw new ConfigError(
        file,
        tok.line,
        undefined,
        `expected a setting name, got ${JSON.stringify(tok.text)}`,
      );
    p++;
    const eq = t[p];
    if (!(eq?.kind === "punct" && eq.text === "="))
      throw new ConfigError(file, tok.line, tok.text, "expected `=` after the setting name");
    p++;
    const v = value(tok.text, tok.line);
    const end = t[p];
    if (end && !(end.kind === "punct" && (end.text === "\n" || end.text === ";")))
      throw new ConfigError(
        file,
        end.line,
        tok.text,
        `unexpected ${JSON.stringify(end.text)} after the value`,
      );
    const prev = seen.get(tok.text);
    if (prev !== undefined)
      throw new ConfigError(file, tok.line, tok.text, `set twice (first on line ${prev})`);
    seen.set(tok.text, tok.line);
    settings.push({ key: tok.text, value: v, line: tok.line });
  }
  return settings;
}
