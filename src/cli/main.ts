#!/usr/bin/env node
import { Command } from 'commander';
import { VERSION } from '../version.js';

const program = new Command();
program
  .name('admiral')
  .description('Command and control for fleets of machines over NATS.')
  .version(VERSION);

await program.parseAsync(process.argv);
