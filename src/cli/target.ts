import { type Command, InvalidArgumentError } from 'commander';
import { type Filter, FilterSyntaxError, parseWhere, type Target } from '../fleet/target.js';
import { parseCols } from './output.js';

// The target flags every fleet command shares (docs/fleet.md, "Targets").

/** Commander's parsed target flags. */
export interface TargetFlags {
  nodes?: string[];
  all?: boolean;
  where?: Filter[];
}

function collectWhere(value: string, previous: Filter[] = []): Filter[] {
  try {
    return [...previous, parseWhere(value)];
  } catch (err) {
    if (err instanceof FilterSyntaxError) throw new InvalidArgumentError(`\n${err.message}`);
    throw err;
  }
}

/** Adds `--nodes`, `--all` and `--where` (repeatable) to a command. */
export function addTargetOptions(cmd: Command): Command {
  return cmd
    .option('--nodes <names>', 'these nodes, comma separated (repeatable)', parseCols)
    .option('--all', 'every node in the inventory')
    .option(
      '--where <filter>',
      'nodes whose facts match: fact=glob, fact!=glob, fact~regex, fact>=number (repeatable, ANDed)',
      collectWhere,
    );
}

/**
 * The Target the flags describe, plus the positional `[target]` shorthand that `nodes` and `ping`
 * take: a filter when it holds an operator (`os=linux`), else node names (`ship1,ship2`).
 */
export function targetFromOptions(flags: TargetFlags, positional?: string): Target {
  let nodes = flags.nodes;
  let where = flags.where ?? [];
  if (positional !== undefined && positional !== '') {
    if (/[=~<>]/.test(positional)) where = [...where, parseWhere(positional)];
    else nodes = [...(nodes ?? []), ...parseCols(positional)];
  }
  return {
    ...(nodes !== undefined && { nodes }),
    ...(flags.all === true && { all: true }),
    ...(where.length > 0 && { where }),
  };
}
