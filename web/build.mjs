// Copyright 2026 UnityKernel contributors. Licensed under the Apache License, Version 2.0.
// Bundle the flow editor and the live plots into the package's static/app/ folder (not in
// git): `make web` runs `npm ci` then this. One esbuild call, no download, about a second.
import * as esbuild from 'esbuild';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
const outdir = path.join(here, '..', 'src', 'unity_kernel_core', 'live', 'static', 'app');

await esbuild.build({
  entryPoints: { flow: path.join(here, 'src', 'flow.jsx'), plots: path.join(here, 'src', 'plots.js') },
  outdir,
  bundle: true,
  minify: true,
  format: 'iife',
  target: ['chrome110', 'firefox110', 'safari16'],
  jsx: 'automatic',
  define: { 'process.env.NODE_ENV': '"production"' },
  legalComments: 'eof',
  logLevel: 'info',
});
