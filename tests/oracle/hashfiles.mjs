// The reference buildonce's hashFiles is compared against.
//
// It reproduces the GitHub runner's own hashFiles script
// (actions/runner src/Misc/expressionFunc/hashFiles/src/hashFiles.ts), not the toolkit's
// glob.hashFiles(): the runner globs with followSymbolicLinks false unless the expression
// passes --follow-symbolic-links, takes the workspace from process.cwd(), skips paths
// outside it, fs.statSync()s every match (following links, so a broken link throws and
// a link to a directory is skipped) and hashes the raw SHA-256 digests in walk order.
// The toolkit's glob.hashFiles() differs: it follows links by default and takes the
// workspace from GITHUB_WORKSPACE.
//
// To avoid one node start per case, this is a server: each stdin line is a JSON request
// {"cwd": dir, "patterns": [...], "follow": bool}; the answer is one stdout line
// "__ORACLE__" + JSON {"hash": "..."} or {"error": "..."}.
//
// A request {"op": "match", "cwd": dir, "pattern": p, "paths": [...]} instead asks
// @actions/glob's own Pattern class (and so minimatch) about single paths, with no file
// system involved: the answer is {"searchPath": ..., "negate": bool, "results":
// [[match, partialMatch], ...]} with match the MatchKind bits.  @actions/core prints
// "::debug::" lines on stdout too, hence the marker.  process.chdir(cwd) before each
// request gives the same process.cwd() the runner's `cwd = workspace` gives.
import * as crypto from 'crypto'
import * as fs from 'fs'
import * as path from 'path'
import * as readline from 'readline'
import * as stream from 'stream'
import * as util from 'util'
import * as glob from '@actions/glob'
// Not exported by the package; imported by file path, which bypasses its "exports" map.
import {Pattern} from './node_modules/@actions/glob/lib/internal-pattern.js'

function matchPaths(pattern, paths) {
  const p = new Pattern(pattern)
  return {
    searchPath: p.searchPath,
    negate: p.negate,
    results: paths.map(x => [p.match(x), p.partialMatch(x)])
  }
}

async function hashFiles(patterns, followSymbolicLinks) {
  const githubWorkspace = process.cwd()
  const result = crypto.createHash('sha256')
  let hasMatch = false
  const globber = await glob.create(patterns.join('\n'), {followSymbolicLinks})
  for await (const file of globber.globGenerator()) {
    if (!file.startsWith(`${githubWorkspace}${path.sep}`)) {
      continue
    }
    if (fs.statSync(file).isDirectory()) {
      continue
    }
    const hash = crypto.createHash('sha256')
    const pipeline = util.promisify(stream.pipeline)
    await pipeline(fs.createReadStream(file), hash)
    result.write(hash.digest())
    hasMatch = true
  }
  result.end()
  return hasMatch ? result.digest('hex') : ''
}

const lines = readline.createInterface({input: process.stdin, crlfDelay: Infinity})
for await (const line of lines) {
  if (!line.trim()) continue
  const request = JSON.parse(line)
  let answer
  try {
    process.chdir(request.cwd)
    if (request.op === 'match') {
      answer = matchPaths(request.pattern, request.paths)
    } else {
      answer = {hash: await hashFiles(request.patterns, !!request.follow)}
    }
  } catch (err) {
    answer = {error: String(err && err.message ? err.message : err)}
  }
  process.stdout.write('__ORACLE__' + JSON.stringify(answer) + '\n')
}
