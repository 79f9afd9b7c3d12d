#!/usr/bin/env node
import { main } from './cli/main.js';

// `flatbake vendors | head`: a closed pipe is not an error worth a stack trace
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw error;
});

process.exitCode = await main(process.argv.slice(2));
