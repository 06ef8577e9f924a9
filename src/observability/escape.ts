// Text from the wire (a reply's data, a node name, a method, an error) may carry terminal control
// sequences: ESC [2J clears a screen, a CR or LF forges a line of its own. A text log line shows
// every C0 control byte but the tab, DEL and every C1 control (U+0080-U+009F: U+009B is a CSI on
// its own) as a visible escape instead.

// eslint-disable-next-line no-control-regex -- control characters are the point
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f-\x9f]/g;

const NAMED: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r' };

/** `text` with control characters as escapes (`\x1b`, `\n`, `\r`): safe for one terminal line. */
export function escapeControl(text: string): string {
  return text.replace(
    CONTROL,
    (ch) => NAMED[ch] ?? `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`,
  );
}
