// Steward's request method names, as its documentation lists them (seed 003: "Request Methods",
// "Request Methods used for reply messages", REQRelay, and the StartSub… flags of its config).

export const METHOD_NAMES = [
  'REQOpProcessList',
  'REQOpProcessStart',
  'REQOpProcessStop',
  'REQCliCommand',
  'REQCliCommandCont',
  'REQTailFile',
  'REQHttpGet',
  'REQHello',
  'REQCopyFileFrom',
  'REQCopyFileTo',
  'REQErrorLog',
  'REQPing',
  'REQPong',
  'REQNone',
  'REQToConsole',
  'REQToFile',
  'REQToFileAppend',
  'REQRelay',
  'REQRelayInitial',
  // admiral's addition: cancel a running message by its id.
  'REQCancel',
] as const;
export type MethodName = (typeof METHOD_NAMES)[number];

/** The same list under the name Steward's docs use ("Request Methods"). */
export const REQUEST_METHODS = METHOD_NAMES;

// Steward's own examples still spell two methods with an older `REQn` prefix ("REQnCliCommand",
// "REQnCliCommandCont"); they are read as the current names so those examples work unchanged.
export const METHOD_ALIASES: Readonly<Record<string, MethodName>> = {
  REQnCliCommand: 'REQCliCommand',
  REQnCliCommandCont: 'REQCliCommandCont',
};

/** Steward: "By default the reply method will be set to log to file". */
export const DEFAULT_REPLY_METHOD: MethodName = 'REQToFileAppend';

const known: ReadonlySet<string> = new Set(METHOD_NAMES);

export function isMethodName(value: unknown): value is MethodName {
  return typeof value === 'string' && known.has(value);
}

/** Resolves an alias to its current name; other values are returned unchanged. */
export function canonicalMethodName(value: string): string {
  return METHOD_ALIASES[value] ?? value;
}

/** Up to `limit` candidates closest to `input` by edit distance (case-insensitive), best first. */
export function closestNames(
  input: string,
  candidates: readonly string[],
  limit = 3,
): readonly string[] {
  const needle = input.toLowerCase();
  const maxDistance = Math.max(2, Math.ceil(needle.length / 2.5));
  return (
    candidates
      // The lengths' difference is a lower bound of the distance: a long input (a hostile one,
      // megabytes) is rejected without an edit-distance walk costing length × candidates.
      .filter((name) => Math.abs(name.length - needle.length) <= maxDistance)
      .map((name) => ({ name, d: editDistance(needle, name.toLowerCase()) }))
      .filter((c) => c.d <= maxDistance)
      .sort((a, b) => a.d - b.d || a.name.localeCompare(b.name))
      .slice(0, limit)
      .map((c) => c.name)
  );
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + cost);
    }
    prev = cur;
  }
  return prev[b.length]!;
}
