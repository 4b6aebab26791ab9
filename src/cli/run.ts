// Entry point for running the CLI from source (`npm run dev`); bin/legway.js runs the compiled one.
import { main } from './main.js';

process.exitCode = await main(process.argv.slice(2));
