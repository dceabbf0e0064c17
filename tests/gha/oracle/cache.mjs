// Run the real actions/cache client (@actions/cache) once: save or restore.
//
//   node cache.mjs save    '<json paths>' <key>
//   node cache.mjs restore '<json paths>' <key> [restore keys...]
//
// The environment is what a runner gives a JavaScript action (ACTIONS_RESULTS_URL,
// ACTIONS_RUNTIME_TOKEN, ACTIONS_CACHE_SERVICE_V2, GITHUB_WORKSPACE); the cwd is the
// workspace.  Prints one JSON line: {"result": <cache id | matched key | null>}.
import * as cache from '@actions/cache';

const [, , command, pathsJson, key, ...restoreKeys] = process.argv;
const paths = JSON.parse(pathsJson);
let result;
if (command === 'save') {
  result = await cache.saveCache(paths, key);
} else if (command === 'restore') {
  result = (await cache.restoreCache(paths, key, restoreKeys)) ?? null;
} else {
  throw new Error(`unknown command ${command}`);
}
process.stdout.write(`${JSON.stringify({ result })}\n`);
