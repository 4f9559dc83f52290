#!/usr/bin/env node
// ovlcheck, the command. This module holds signals while the rest loads (a second or so):
// inside its namespace the CLI is pid 1, which never receives a signal it has no handler for,
// so a SIGTERM then would be lost. Exit codes: 0 conforms, 1 divergence, 2 bad input or
// unusable environment, 3 ovlcheck bug.

const early: NodeJS.Signals[] = [];
const hold = (signal: NodeJS.Signals): void => void early.push(signal);
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
for (const signal of SIGNALS) process.on(signal, hold);
const { runProcess } = await import('./cliMain.js');
runProcess(process.argv.slice(2), early); // its own handlers first: no moment without one
for (const signal of SIGNALS) process.off(signal, hold);
