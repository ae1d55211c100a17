// The `countersign` command. Until the embedded pipeline lands, `start` says so plainly.
const [command] = process.argv.slice(2);
if (command === 'start') {
  console.error(
    [
      'countersign: the embedded pipeline is not wired yet.',
      'What exists today: the contracts (schemas, codes, configuration) and the test harness',
      '(npm test: type-check, lint, unit tests, integration tests against moto).',
    ].join('\n'),
  );
  process.exit(1);
}
console.error(`countersign: unknown command "${command ?? ''}"`);
process.exit(2);
