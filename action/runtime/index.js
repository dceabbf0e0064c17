'use strict';
// Export the cache service URL and runtime token to the rest of the job.
//
// The runner hands ACTIONS_RESULTS_URL / ACTIONS_RUNTIME_TOKEN only to JavaScript and
// container actions, never to `run:` steps, so `buildonce` (a Python CLI run from a shell
// step) cannot see them on its own.  This file has no dependencies on purpose: it is the
// whole action, and nothing is fetched at run time.
const crypto = require('crypto');
const fs = require('fs');

const EXPORTED = [
  'ACTIONS_RESULTS_URL',
  'ACTIONS_RUNTIME_TOKEN',
  'ACTIONS_CACHE_SERVICE_V2',
  'ACTIONS_CACHE_URL',
];

function escapeData(text) {
  return String(text).replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

function command(name, message) {
  process.stdout.write(`::${name}::${escapeData(message)}\n`);
}

// GITHUB_ENV accepts NAME<<DELIM blocks; a random delimiter can never occur in the value.
function envBlock(name, value) {
  let delimiter;
  do {
    delimiter = `ghadelimiter_${crypto.randomUUID()}`;
  } while (value.includes(delimiter));
  return `${name}<<${delimiter}\n${value}\n${delimiter}\n`;
}

function main(env) {
  const envFile = env.GITHUB_ENV;
  if (!envFile) {
    command('error', 'GITHUB_ENV is not set: this step only works inside a GitHub Actions job');
    return 1;
  }
  const token = env.ACTIONS_RUNTIME_TOKEN || '';
  if (token) {
    // Mask before anything else can print it.
    command('add-mask', token);
  }
  if (!env.ACTIONS_RESULTS_URL || !token) {
    command(
      'warning',
      'the runner did not provide ACTIONS_RESULTS_URL/ACTIONS_RUNTIME_TOKEN; ' +
        'the GitHub cache store is unavailable in this job (use an s3:// store instead)',
    );
  }
  const blocks = EXPORTED.filter((name) => env[name]).map((name) => envBlock(name, env[name]));
  fs.appendFileSync(envFile, blocks.join(''), { encoding: 'utf8' });
  process.stdout.write(
    `exported ${EXPORTED.filter((name) => env[name]).join(', ') || 'nothing'} to GITHUB_ENV\n`,
  );
  return 0;
}

if (require.main === module) {
  process.exitCode = main(process.env);
}

module.exports = { main, envBlock };
