// ESLint for the web page (src/testgen/web): the recommended rules, and no import cycle, so that the
// modules import downward only (app.js wires; features below; shared helpers at the bottom).
// Run by tools/check_web.sh; tests/web/test_page_modules.py checks the cycles without Node too.
import js from "@eslint/js";
import { importX } from "eslint-plugin-import-x";
import globals from "globals";

export default [
  {
    files: ["src/testgen/web/**/*.js"],
    ...js.configs.recommended,
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: "module",
      globals: globals.browser,
    },
    plugins: { "import-x": importX },
    rules: {
      ...js.configs.recommended.rules,
      "import-x/no-cycle": ["error", { maxDepth: Infinity }],
      "import-x/no-unresolved": "error",
      "import-x/named": "error",
      "import-x/no-self-import": "error",
      "no-unused-vars": ["error", { args: "after-used", caughtErrors: "none" }],
    },
  },
];
